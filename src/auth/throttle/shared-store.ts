/**
 * The throttle's counters in a store that several processes share: Redis between replicas
 * (redis-store.ts), or the primary between the workers of one server (server/cluster-records.ts).
 * Guesses spread over them count as if they all reached one.
 *
 * Each counter is one record, a versioned string named by a hash of what it counts (so no user name
 * or address of unbounded length becomes a name):
 *
 *   throttle:pair:<h>      account and address together (back-off)
 *   throttle:address:<h>   the address (back-off)
 *   throttle:account:<h>   the account (the hourly cap)
 *
 * An update reads the three, runs the same rules as in memory (counters.ts) and writes them back
 * only if none changed meanwhile (compare-and-set on the versions read); then it runs again, a
 * bounded number of times. A decision that changes nothing (a refusal) writes nothing. Records
 * expire when nothing in them matters any more (the windows of counters.ts), and an attempt a
 * process never settled (it died) stops counting after its `until`.
 *
 * What the records hold never helps guessing passwords: attempts in flight and recent wrong
 * passwords are named by HMACs under a key that never leaves their process (remembered.ts). So a
 * process recognises only its own repeats: a stale password retried through three replicas counts
 * up to three times, never less than once.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ThrottleConfig } from '../../config/schema/throttle.js';
import {
  CounterStoreUnavailable,
  HOUR_MS,
  isCold,
  isExpired,
  newCounter,
  type Counter,
  type CounterKeys,
  type CounterKind,
  type CounterStore,
  type ThrottleCounters,
} from './counters.js';

/** One record as read: version 0 and no value when there is none. */
export interface StoredRecord {
  readonly version: number;
  readonly value: string | null;
}

/** What to write in place of a record read at `version`: kept `ttlMs` (0 deletes it); `rank` 0 is the first a full store lets go. */
export interface RecordWrite {
  readonly version: number;
  readonly value: string;
  readonly ttlMs: number;
  readonly rank: number;
}

/** Where the records live. Failures are values: `unavailable` when the store cannot be asked now. */
export interface VersionedRecords {
  read(names: readonly string[]): Promise<readonly StoredRecord[] | 'unavailable'>;
  /** Writes every record, each at its version + 1, only if each still has the version read. */
  writeIfUnchanged(names: readonly string[], writes: readonly RecordWrite[]): Promise<'written' | 'changed' | 'unavailable'>;
}

const MAX_ROUNDS = 12;
/** Kept a little past the last moment it matters, for clocks of processes that differ slightly. */
const EXPIRY_MARGIN_MS = 60_000;
const KINDS: readonly CounterKind[] = ['pair', 'address', 'account'];

/** The JSON of one counter: failures, last failure, blocked until, pending [token, count, failed, until], hourly, recent wrong. */
interface StoredCounter {
  f: number;
  l: number | null;
  b: number | null;
  p: Array<[string, number, 0 | 1, number]>;
  h: number[];
  w: string[];
}

function encode(counter: Counter): string {
  const stored: StoredCounter = {
    f: counter.failures,
    l: Number.isFinite(counter.lastFailureAt) ? counter.lastFailureAt : null,
    b: Number.isFinite(counter.blockedUntil) ? counter.blockedUntil : null,
    p: [...counter.pending].map(([token, entry]) => [token, entry.count, entry.failed ? 1 : 0, entry.until]),
    h: counter.hourly,
    w: counter.recentWrong,
  };
  return JSON.stringify(stored);
}

/** A value that cannot be read (another program's, or a future format) starts afresh. */
function decode(value: string | null): Counter {
  const counter = newCounter();
  if (value === null) return counter;
  try {
    const stored = JSON.parse(value) as StoredCounter;
    counter.failures = stored.f;
    counter.lastFailureAt = stored.l ?? -Infinity;
    counter.blockedUntil = stored.b ?? -Infinity;
    for (const [token, count, failed, until] of stored.p) counter.pending.set(token, { count, failed: failed === 1, until });
    counter.hourly.push(...stored.h);
    counter.recentWrong.push(...stored.w);
    return counter;
  } catch {
    return newCounter();
  }
}

function keyHash(name: string): string {
  return createHash('sha256').update(name).digest('base64url').slice(0, 22);
}

export class SharedCounterStore implements CounterStore {
  constructor(
    private readonly records: VersionedRecords,
    private readonly config: ThrottleConfig,
  ) {}

  async update<T>(keys: CounterKeys, now: number, change: (counters: ThrottleCounters) => T): Promise<T> {
    const names = KINDS.map((kind) => `throttle:${kind}:${keyHash(keys[kind])}`);
    for (let round = 0; round < MAX_ROUNDS; round += 1) {
      const read = await this.records.read(names);
      if (read === 'unavailable') throw new CounterStoreUnavailable('unavailable');
      const counters = read.map(({ value }) => decode(value));
      for (const counter of counters) dropAbandoned(counter, now);
      const before = counters.map(encode);
      const [pair, address, account] = counters as [Counter, Counter, Counter];
      const result = change({ pair, address, account });
      const after = [pair, address, account].map(encode);
      if (after.every((body, i) => body === before[i])) return result;
      const writes = read.map(({ version }, i) => ({
        version,
        value: after[i] as string,
        ttlMs: this.ttlOf(counters[i] as Counter, now),
        rank: this.rankOf(KINDS[i] as CounterKind, counters[i] as Counter, now),
      }));
      const written = await this.records.writeIfUnchanged(names, writes);
      if (written === 'unavailable') throw new CounterStoreUnavailable('unavailable');
      if (written === 'written') return result;
      // Another process changed a counter first: read again, after a short random pause.
      await sleep(1 + Math.random() * Math.min(2 ** round, 20));
    }
    throw new CounterStoreUnavailable('contention');
  }

  /** How long the record must live for what it holds to keep mattering; 0 when nothing does. */
  private ttlOf(counter: Counter, now: number): number {
    if (isExpired(counter, now, this.config)) return 0;
    let until = Math.max(now, counter.blockedUntil, counter.lastFailureAt + Math.max(this.config.forgetAfter, HOUR_MS));
    for (const entry of counter.pending.values()) until = Math.max(until, entry.until);
    return Math.ceil(until - now) + EXPIRY_MARGIN_MS;
  }

  /** For a bounded store: attempts in flight are kept longest, counters far from any limit go first. */
  private rankOf(kind: CounterKind, counter: Counter, now: number): number {
    if (counter.pending.size > 0) return 2;
    return isCold(kind, counter, now, this.config) ? 0 : 1;
  }
}

/** Attempts whose process never settled them stop counting once their time is up. */
function dropAbandoned(counter: Counter, now: number): void {
  for (const [token, entry] of counter.pending) if (entry.until <= now) counter.pending.delete(token);
}
