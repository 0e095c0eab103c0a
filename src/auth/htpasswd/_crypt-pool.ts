/**
 * A small pool of worker threads running `_crypt-worker.js`, shared by the whole process. Workers
 * start on first use, hold the process open only while they have work (so a CLI can exit), and
 * are replaced if one dies; the jobs it held fail rather than hang.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { InternalError } from '../../lib/internal-errors.js';

export interface CryptJob {
  readonly scheme: 'sha-crypt' | 'md5-crypt';
  readonly password: string;
  /** The hash up to (not including) its last `$`: `$6$rounds=N$salt`, `$apr1$salt`. */
  readonly settings: string;
}

export type CryptReply = { readonly id: number; readonly value: string } | { readonly id: number; readonly error: string };

interface Pending {
  resolve(value: string): void;
  reject(error: Error): void;
}

interface Slot {
  readonly worker: Worker;
  readonly pending: Map<number, Pending>;
  dead: boolean;
}

const WORKER_URL = new URL('./_crypt-worker.js', import.meta.url);
const POOL_SIZE = Math.max(1, Math.min(2, availableParallelism() - 1));

class CryptPool {
  private readonly slots: Slot[] = [];
  private nextId = 1;

  constructor(private readonly size: number) {}

  /** The full crypt string that `job.password` gives with `job.settings`. */
  derive(job: CryptJob): Promise<string> {
    const slot = this.pickSlot();
    const id = this.nextId++;
    return new Promise<string>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      if (slot.pending.size === 1) slot.worker.ref();
      slot.worker.postMessage({ id, scheme: job.scheme, password: job.password, settings: job.settings });
    });
  }

  private pickSlot(): Slot {
    let best: Slot | undefined;
    for (const slot of this.slots) {
      if (!best || slot.pending.size < best.pending.size) best = slot;
    }
    if (best && (best.pending.size === 0 || this.slots.length >= this.size)) return best;
    return this.spawn();
  }

  private spawn(): Slot {
    const worker = new Worker(WORKER_URL);
    const slot: Slot = { worker, pending: new Map(), dead: false };
    worker.unref();
    worker.on('message', (reply: CryptReply) => {
      const pending = slot.pending.get(reply.id);
      if (!pending) return;
      slot.pending.delete(reply.id);
      if (slot.pending.size === 0) worker.unref();
      if ('value' in reply) pending.resolve(reply.value);
      else pending.reject(new InternalError('RG_ERR_HASH_WORKER_FAILED', `password hash computation failed: ${reply.error}`));
    });
    const fail = (reason: string): void => {
      if (slot.dead) return;
      slot.dead = true;
      const index = this.slots.indexOf(slot);
      if (index >= 0) this.slots.splice(index, 1);
      for (const pending of slot.pending.values())
        pending.reject(new InternalError('RG_ERR_HASH_WORKER_FAILED', `password hash worker ${reason}`));
      slot.pending.clear();
    };
    worker.on('error', (error) => fail(`failed: ${error.message}`));
    worker.on('exit', (code) => fail(`exited with code ${code}`));
    this.slots.push(slot);
    return slot;
  }
}

let shared: CryptPool | undefined;

/** Compute a crypt string off the event loop. */
export function deriveCrypt(job: CryptJob): Promise<string> {
  shared ??= new CryptPool(POOL_SIZE);
  return shared.derive(job);
}
