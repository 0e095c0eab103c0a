/**
 * Records shared by the worker processes of one `serve` (node:cluster), kept by the primary, as the
 * lock is (cluster-lock.ts): versioned strings with an expiry, read together and written together
 * only if none changed since it was read (compare-and-set), the way replicas keep them in Redis. The
 * primary knows nothing of what they hold. The login throttle keeps its counters here when there
 * is no Redis, and while Redis is down, so that guesses spread over the workers count as if they all
 * reached one process (auth/throttle/shared-store.ts). One instance per worker process (message ids
 * are per instance).
 *
 *   worker → primary  {type: 'registry-gate:records', op: 'read', id, names}
 *   primary → worker  {type: 'registry-gate:records', op: 'records', id, records: [[version, value | null], …]}
 *   worker → primary  {type: 'registry-gate:records', op: 'write', id, names, writes: [{version, value, ttlMs, rank}, …]}
 *   primary → worker  {type: 'registry-gate:records', op: 'written', id, written}
 *
 * The primary holds at most `maxRecords`: a new record beyond that evicts, among the EVICTION_SCAN
 * least recently written, an expired one, else the first of the lowest rank (the writer ranks what
 * matters least lowest), else the least recently written.
 */
import cluster, { type Worker } from 'node:cluster';

const MESSAGE_TYPE = 'registry-gate:records';
/** The primary answers at once; a worker that hears nothing for this long counts the store as unavailable. */
const ANSWER_TIMEOUT_MS = 5000;
const EVICTION_SCAN = 64;

/** One record as read: version 0 and no value when there is none. */
export interface StoredRecord {
  readonly version: number;
  readonly value: string | null;
}

/** The record read at `version` becomes `value` at version + 1, for `ttlMs` (0 deletes it). */
export interface RecordWrite {
  readonly version: number;
  readonly value: string;
  readonly ttlMs: number;
  readonly rank: number;
}

interface RecordsMessage {
  readonly type: typeof MESSAGE_TYPE;
  readonly op: 'read' | 'records' | 'write' | 'written';
  readonly id: number;
  readonly names?: readonly string[];
  readonly records?: ReadonlyArray<readonly [number, string | null]>;
  readonly writes?: readonly RecordWrite[];
  readonly written?: boolean;
}

function isRecordsMessage(message: unknown): message is RecordsMessage {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === MESSAGE_TYPE;
}

interface Entry {
  version: number;
  value: string;
  expiresAt: number;
  rank: number;
}

/** The records themselves, in the primary. */
export class RecordTable {
  /** Least recently written first. */
  readonly #entries = new Map<string, Entry>();

  constructor(
    private readonly maxRecords: number,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.#entries.size;
  }

  read(names: readonly string[]): StoredRecord[] {
    return names.map((name) => {
      const entry = this.#live(name);
      return entry ? { version: entry.version, value: entry.value } : { version: 0, value: null };
    });
  }

  /** All or nothing: false, writing none, when a record's version is no longer the one read. */
  writeIfUnchanged(names: readonly string[], writes: readonly RecordWrite[]): boolean {
    if (names.length !== writes.length) return false;
    if (names.some((name, i) => (this.#live(name)?.version ?? 0) !== writes[i]?.version)) return false;
    const now = this.now();
    // Out before room is made, so that none of them is the one let go.
    for (const name of names) this.#entries.delete(name);
    this.#makeRoom(now, writes.filter(({ ttlMs }) => ttlMs > 0).length);
    names.forEach((name, i) => {
      const { version, value, ttlMs, rank } = writes[i] as RecordWrite;
      if (ttlMs > 0) this.#entries.set(name, { version: version + 1, value, expiresAt: now + ttlMs, rank });
    });
    return true;
  }

  #live(name: string): Entry | undefined {
    const entry = this.#entries.get(name);
    if (entry && entry.expiresAt <= this.now()) {
      this.#entries.delete(name);
      return undefined;
    }
    return entry;
  }

  /** Evicts until `reserve` more records fit. */
  #makeRoom(now: number, reserve: number): void {
    while (this.#entries.size > 0 && this.#entries.size + reserve > this.maxRecords) {
      let victim: string | undefined;
      let lowest = Infinity;
      let scanned = 0;
      for (const [name, entry] of this.#entries) {
        if (scanned++ >= EVICTION_SCAN) break;
        if (entry.expiresAt <= now) {
          victim = name;
          break;
        }
        if (entry.rank < lowest) [victim, lowest] = [name, entry.rank];
      }
      this.#entries.delete(victim ?? (this.#entries.keys().next().value as string));
    }
  }
}

/** In the primary: answers every worker it forks from one table. */
export class RecordBroker {
  readonly #table: RecordTable;

  constructor(maxRecords: number) {
    this.#table = new RecordTable(maxRecords);
  }

  attach(worker: Worker): void {
    worker.on('message', (message: unknown) => {
      if (!isRecordsMessage(message) || !Array.isArray(message.names)) return;
      const { id, names } = message;
      let reply: RecordsMessage | undefined;
      if (message.op === 'read') {
        const records = this.#table.read(names).map(({ version, value }) => [version, value] as const);
        reply = { type: MESSAGE_TYPE, op: 'records', id, records };
      } else if (message.op === 'write' && Array.isArray(message.writes)) {
        reply = { type: MESSAGE_TYPE, op: 'written', id, written: this.#table.writeIfUnchanged(names, message.writes) };
      }
      if (reply && worker.isConnected()) worker.send(reply);
    });
  }
}

/** In a worker: the primary's records. Failures are values: `unavailable` when the primary does not answer. */
export class ClusterRecords {
  readonly #waiting = new Map<number, (reply: RecordsMessage | undefined) => void>();
  #nextId = 1;

  constructor() {
    process.on('message', (message: unknown) => {
      if (isRecordsMessage(message) && (message.op === 'records' || message.op === 'written')) this.#waiting.get(message.id)?.(message);
    });
  }

  async read(names: readonly string[]): Promise<StoredRecord[] | 'unavailable'> {
    const reply = await this.#ask({ op: 'read', names });
    if (!reply?.records) return 'unavailable';
    return reply.records.map(([version, value]) => ({ version, value }));
  }

  async writeIfUnchanged(names: readonly string[], writes: readonly RecordWrite[]): Promise<'written' | 'changed' | 'unavailable'> {
    const reply = await this.#ask({ op: 'write', names, writes });
    if (reply?.written === undefined) return 'unavailable';
    return reply.written ? 'written' : 'changed';
  }

  #ask(request: Pick<RecordsMessage, 'op' | 'names' | 'writes'>): Promise<RecordsMessage | undefined> {
    const id = this.#nextId++;
    return new Promise((resolve) => {
      const settle = (reply: RecordsMessage | undefined): void => {
        clearTimeout(timer);
        this.#waiting.delete(id);
        resolve(reply);
      };
      const timer = setTimeout(() => settle(undefined), ANSWER_TIMEOUT_MS);
      this.#waiting.set(id, settle);
      const message: RecordsMessage = { type: MESSAGE_TYPE, id, ...request };
      if (!process.connected || !process.send) settle(undefined);
      else process.send(message, (error: Error | null) => error && settle(undefined));
    });
  }
}

/** The primary's records when this process is one of several workers; undefined in a single process. */
export function workerSharedRecords(): ClusterRecords | undefined {
  return cluster.isWorker ? new ClusterRecords() : undefined;
}
