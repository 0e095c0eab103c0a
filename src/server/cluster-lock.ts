/**
 * A keyed lock shared by the worker processes of one `serve` (node:cluster): the primary holds the
 * queue of each key and grants it to one worker section at a time, in arrival order. A worker that
 * dies releases what it held or waited for. Used where several workers must not interleave: the
 * first push of a protected tag in front of an upstream, the requests of one upload session of the
 * built-in registry. One instance per worker process (message ids are per instance).
 *
 *   worker → primary  {type: 'registry-gate:lock', op: 'acquire', id, key}
 *   primary → worker  {type: 'registry-gate:lock', op: 'granted', id}
 *   worker → primary  {type: 'registry-gate:lock', op: 'release', id}   (also cancels a wait)
 */
import cluster, { type Worker } from 'node:cluster';
import { RegistryError } from '../oci/errors.js';
import { KeyedLock, type SectionLock } from '../lib/section-lock.js';

const MESSAGE_TYPE = 'registry-gate:lock';
const GRANT_TIMEOUT_MS = 30_000;

interface LockMessage {
  readonly type: typeof MESSAGE_TYPE;
  readonly op: 'acquire' | 'granted' | 'release';
  readonly id: number;
  readonly key?: string;
}

function isLockMessage(message: unknown): message is LockMessage {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === MESSAGE_TYPE;
}

/** In the primary: serves lock requests from every worker it forks. */
export class LockBroker {
  /** Per key: the holder first, then the waiters. */
  readonly #queues = new Map<string, Array<{ worker: Worker; id: number }>>();

  attach(worker: Worker): void {
    worker.on('message', (message: unknown) => {
      if (!isLockMessage(message)) return;
      if (message.op === 'acquire' && typeof message.key === 'string') this.#acquire(worker, message.id, message.key);
      if (message.op === 'release') this.#remove((entry) => entry.worker === worker && entry.id === message.id);
    });
    worker.once('exit', () => this.#remove((entry) => entry.worker === worker));
  }

  #acquire(worker: Worker, id: number, key: string): void {
    const queue = this.#queues.get(key) ?? [];
    queue.push({ worker, id });
    this.#queues.set(key, queue);
    const [first] = queue;
    if (queue.length === 1 && first) this.#grant(first);
  }

  #remove(matches: (entry: { worker: Worker; id: number }) => boolean): void {
    for (const [key, queue] of this.#queues) {
      const holder = queue[0];
      const rest = queue.filter((entry) => !matches(entry));
      if (rest.length === 0) this.#queues.delete(key);
      else this.#queues.set(key, rest);
      if (rest[0] && rest[0] !== holder) this.#grant(rest[0]);
    }
  }

  #grant(entry: { worker: Worker; id: number }): void {
    if (entry.worker.isConnected()) entry.worker.send({ type: MESSAGE_TYPE, op: 'granted', id: entry.id } satisfies LockMessage);
  }
}

/** In a worker: sections run one at a time per key across all workers of this primary. */
export class ClusterLock implements SectionLock {
  readonly #local = new KeyedLock();
  readonly #waiting = new Map<number, () => void>();
  #nextId = 1;

  constructor() {
    process.on('message', (message: unknown) => {
      if (isLockMessage(message) && message.op === 'granted') this.#waiting.get(message.id)?.();
    });
  }

  run<T>(key: string, section: () => Promise<T>): Promise<T> {
    // One request per key at a time from this worker; the primary orders the workers.
    return this.#local.run(key, async () => {
      const id = this.#nextId++;
      const send = (op: LockMessage['op']) => process.send?.({ type: MESSAGE_TYPE, op, id, key } satisfies LockMessage);
      try {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => {
            this.#waiting.delete(id);
            reject(new RegistryError('UNAVAILABLE', 'another request on this tag or upload is still in progress'));
          }, GRANT_TIMEOUT_MS);
          this.#waiting.set(id, () => {
            clearTimeout(timer);
            this.#waiting.delete(id);
            resolve();
          });
          send('acquire');
        });
        return await section();
      } finally {
        send('release');
      }
    });
  }
}

/** The lock for sections that must not interleave across this server's processes. */
export function processSharedLock(): SectionLock {
  return cluster.isWorker ? new ClusterLock() : new KeyedLock();
}
