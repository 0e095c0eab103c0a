/**
 * The durable event queue: every record a webhook has not yet been given, in memory (for the
 * deliverers) and in the segment log (for a restart), and at most `maxEvents` of them.
 *
 * Appends are grouped: the records of every request that arrives while one write+fdatasync runs go
 * out together in the next, so concurrent pushes share one fsync instead of queueing for one each.
 * A push or delete reserves its place before the backend changes anything (`reserve`), so a full
 * queue refuses the request while nothing has happened yet; a pull or a refused login that finds
 * the queue full is dropped and counted (`offer`).
 */
import type { RegistryEvent } from './event.js';
import { SegmentLog, type QueuedRecord } from './segment-log.js';

export interface Reservation {
  /** Gives the place back, unused (the request failed, or changed nothing). */
  release(): void;
}

interface Pending {
  readonly record: QueuedRecord;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

export class EventQueue {
  readonly #log: SegmentLog;
  readonly #maxEvents: number;
  /** Durable records not yet passed by every webhook, ascending by seq. */
  #records: QueuedRecord[];
  #nextSeq: number;
  #pending: Pending[] = [];
  #writing: Promise<void> | undefined;
  #reserved = 0;
  #wakeUps = new Set<() => void>();
  /** Called with the number of records held (durable and being written) whenever it changes. */
  onDepth: (depth: number) => void = () => undefined;

  constructor(log: SegmentLog, records: QueuedRecord[], maxEvents: number) {
    this.#log = log;
    this.#records = records;
    this.#maxEvents = maxEvents;
    this.#nextSeq = (records.at(-1)?.seq ?? 0) + 1;
  }

  get depth(): number {
    return this.#records.length + this.#pending.length;
  }

  /** The seq the next record will have, minus one: where a webhook new to the queue starts. */
  get lastSeq(): number {
    return this.#nextSeq - 1;
  }

  /** A place for one event, or undefined when the queue is full. */
  reserve(): Reservation | undefined {
    if (this.depth + this.#reserved >= this.#maxEvents) return undefined;
    this.#reserved += 1;
    let held = true;
    return {
      release: () => {
        if (held) this.#reserved -= 1;
        held = false;
      },
    };
  }

  /** Appends `event` durably: resolves once it is on disk. `reservation`: the place reserved for it. */
  append(event: RegistryEvent, options: { reservation?: Reservation | undefined; only?: string | undefined } = {}): Promise<void> {
    options.reservation?.release();
    const record: QueuedRecord =
      options.only === undefined ? { seq: this.#nextSeq, event } : { seq: this.#nextSeq, event, only: options.only };
    this.#nextSeq += 1;
    const written = new Promise<void>((resolve, reject) => this.#pending.push({ record, resolve, reject }));
    this.#writing ??= this.#writeBatches();
    this.onDepth(this.depth);
    return written;
  }

  /** Appends `event` unless the queue is full; false when it was dropped. Nobody waits for the write. */
  offer(event: RegistryEvent, onFailed: (error: unknown) => void): boolean {
    const reservation = this.reserve();
    if (!reservation) return false;
    this.append(event, { reservation }).catch(onFailed);
    return true;
  }

  /** The first durable record after `seq`, if any. */
  after(seq: number): QueuedRecord | undefined {
    return this.#records[this.#indexAfter(seq)];
  }

  /** Resolves when there is a durable record after `seq` (at once if there is one already), or `signal` aborts. */
  waitForMore(seq: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      // Checked as the waiter is added, in one synchronous step: an append in between cannot be missed.
      if (this.after(seq) !== undefined || signal.aborted) {
        resolve();
        return;
      }
      const wake = () => {
        this.#wakeUps.delete(wake);
        signal.removeEventListener('abort', wake);
        resolve();
      };
      this.#wakeUps.add(wake);
      signal.addEventListener('abort', wake, { once: true });
    });
  }

  /** Forgets every record with seq ≤ `seq` (every webhook has it) and removes the segments that held only such. */
  async dropThrough(seq: number): Promise<void> {
    this.#records = this.#records.slice(this.#indexAfter(seq));
    this.onDepth(this.depth);
    await this.#log.dropThrough(seq);
  }

  async close(): Promise<void> {
    while (this.#writing) await this.#writing;
    await this.#log.close();
  }

  /** The index of the first record with a seq above `seq` (binary search: the records are ascending). */
  #indexAfter(seq: number): number {
    const records = this.#records;
    let low = 0;
    let high = records.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((records[middle] as QueuedRecord).seq <= seq) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  async #writeBatches(): Promise<void> {
    // One turn of the event loop first: the events of requests answered in the same turn share the first write too.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.#pending.length > 0) {
      const batch = this.#pending;
      this.#pending = [];
      try {
        await this.#log.append(batch.map((pending) => pending.record));
        for (const pending of batch) this.#records.push(pending.record);
        for (const pending of batch) pending.resolve();
        for (const wake of [...this.#wakeUps]) wake();
      } catch (error) {
        for (const pending of batch) pending.reject(error);
      }
      this.onDepth(this.depth);
    }
    this.#writing = undefined;
  }
}
