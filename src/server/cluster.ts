/**
 * Several worker processes sharing nothing but the listening socket (node:cluster). The primary
 * forks them, waits until each listens, re-forks one that dies, forwards SIGHUP, serves the lock
 * and the records they share (./cluster-lock.ts, ./cluster-records.ts), and on shutdown sends each
 * SIGTERM and waits for them: every worker drains its own in-flight transfers.
 */
import cluster, { type Worker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { LockBroker } from './cluster-lock.js';
import { RecordBroker } from './cluster-records.js';
import { InternalError } from '../lib/internal-errors.js';

interface ListeningMessage {
  readonly type: 'registry-gate:listening';
  readonly url: string;
}

function isListening(message: unknown): message is ListeningMessage {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'registry-gate:listening';
}

export interface Workers {
  readonly url: string;
  reload(): void;
  close(): Promise<void>;
}

/**
 * A random secret the primary hands to every worker it forks (in the environment, read once and
 * removed), for values that any worker must accept from another, such as catalog page tokens.
 */
const WORKER_SECRET_ENV = 'REGISTRY_GATE_WORKER_SECRET';

/** In a worker: the secret the primary shared with all its workers; undefined in a single process. */
export function takeWorkerSecret(): Buffer | undefined {
  const value = process.env[WORKER_SECRET_ENV];
  Reflect.deleteProperty(process.env, WORKER_SECRET_ENV);
  return cluster.isWorker && value ? Buffer.from(value, 'base64') : undefined;
}

export function isWorkerProcess(): boolean {
  return cluster.isWorker;
}

/** In a worker: tell the primary where this worker listens. */
/** A worker that did not come up: the server cannot start as configured. */
export class WorkerStartFailure extends InternalError {
  override name = 'WorkerStartFailure';

  constructor(message: string) {
    super('RG_ERR_WORKER_START_FAILED', message);
  }
}

export function reportListening(url: string): void {
  const message: ListeningMessage = { type: 'registry-gate:listening', url };
  process.send?.(message);
}

export interface WorkerOptions {
  /** The most records the primary keeps for its workers (cluster-records.ts). */
  readonly maxSharedRecords: number;
  readonly startTimeoutMs?: number;
}

export async function startWorkers(count: number, logger: Logger, options: WorkerOptions): Promise<Workers> {
  const { maxSharedRecords, startTimeoutMs = 60_000 } = options;
  let stopping = false;
  const locks = new LockBroker();
  const records = new RecordBroker(maxSharedRecords);
  const secret = randomBytes(32).toString('base64');
  const fork = (): Promise<{ worker: Worker; url: string }> =>
    new Promise((resolve, reject) => {
      const worker = cluster.fork({ [WORKER_SECRET_ENV]: secret });
      locks.attach(worker);
      records.attach(worker);
      const timer = setTimeout(
        () => reject(new WorkerStartFailure(`worker ${worker.process.pid} did not start within ${startTimeoutMs} ms`)),
        startTimeoutMs,
      );
      worker.on('message', (message: unknown) => {
        if (!isListening(message)) return;
        clearTimeout(timer);
        resolve({ worker, url: message.url });
      });
      worker.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new WorkerStartFailure(`worker ${worker.process.pid} exited during start-up (code ${code}, signal ${signal})`));
      });
    });

  const started = await Promise.all(Array.from({ length: count }, fork));
  const live = new Set(started.map(({ worker }) => worker));
  const watch = (worker: Worker) =>
    worker.once('exit', (code, signal) => {
      live.delete(worker);
      if (stopping) return;
      logger.error({ pid: worker.process.pid, code, signal }, 'worker died; starting another');
      fork().then(
        ({ worker: next }) => {
          live.add(next);
          watch(next);
        },
        (error: unknown) => logger.error({ err: error }, 'could not replace a worker'),
      );
    });
  for (const worker of live) watch(worker);

  return {
    url: started[0]?.url ?? '',
    reload() {
      for (const worker of live) worker.process.kill('SIGHUP');
    },
    async close() {
      stopping = true;
      await Promise.all(
        [...live].map(
          (worker) =>
            new Promise<void>((resolve) => {
              if (worker.isDead()) {
                resolve();
                return;
              }
              worker.once('exit', () => resolve());
              worker.process.kill('SIGTERM');
            }),
        ),
      );
    },
  };
}
