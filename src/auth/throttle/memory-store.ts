/**
 * The counters of one process, in memory (the default, without `redis`). Memory is bounded: at
 * most `maxTrackedKeys` accounts, addresses and account-and-address pairs each, least recently used
 * first out (preferring entries that block nothing), and entries whose windows have passed are
 * dropped as the oldest ones are visited.
 */
import type { ThrottleConfig } from '../../config/schema/throttle.js';
import {
  isCold,
  isExpired,
  newCounter,
  type Counter,
  type CounterKeys,
  type CounterKind,
  type CounterStore,
  type ThrottleCounters,
} from './counters.js';

const EVICTION_SCAN = 64;

export class MemoryCounterStore implements CounterStore {
  /** Account and client address together: the back-off of one client guessing one account. */
  private readonly pairs = new Map<string, Counter>();
  private readonly addresses = new Map<string, Counter>();
  /** The hourly cap, shared by every client. */
  private readonly accounts = new Map<string, Counter>();

  constructor(private readonly config: ThrottleConfig) {}

  /** Synchronous: nothing else runs between reading and changing the counters. */
  update<T>(keys: CounterKeys, now: number, change: (counters: ThrottleCounters) => T): T {
    const counters = {
      pair: this.counter(this.pairs, keys.pair, now),
      address: this.counter(this.addresses, keys.address, now),
      account: this.counter(this.accounts, keys.account, now),
    };
    const result = change(counters);
    this.trim(this.pairs, now);
    this.trim(this.addresses, now);
    this.trim(this.accounts, now);
    return result;
  }

  get size(): { accounts: number; addresses: number; pairs: number } {
    return { accounts: this.accounts.size, addresses: this.addresses.size, pairs: this.pairs.size };
  }

  clear(): void {
    this.pairs.clear();
    this.addresses.clear();
    this.accounts.clear();
  }

  /** The counter for `key`, created if needed and moved to the most recently used end. */
  private counter(map: Map<string, Counter>, key: string, now: number): Counter {
    const counter = map.get(key) ?? newCounter();
    map.delete(key);
    // Trimmed before the counter goes back in, so that it is never the one dropped.
    this.trim(map, now, 1);
    map.set(key, counter);
    return counter;
  }

  /**
   * Drops expired entries at the least recently used end, then evicts until `reserve` more fit:
   * among the oldest EVICTION_SCAN, the first that blocks nothing and has no attempt in flight,
   * else the oldest without one in flight, else the oldest.
   */
  private trim(map: Map<string, Counter>, now: number, reserve = 0): void {
    for (const [key, counter] of map) {
      if (!isExpired(counter, now, this.config)) break;
      map.delete(key);
    }
    while (map.size > 0 && map.size + reserve > this.config.maxTrackedKeys) {
      let cold: string | undefined;
      let idle: string | undefined;
      let scanned = 0;
      for (const [key, counter] of map) {
        if (scanned++ >= EVICTION_SCAN) break;
        if (counter.pending.size > 0) continue;
        idle ??= key;
        if (isCold(this.kindOf(map), counter, now, this.config)) {
          cold = key;
          break;
        }
      }
      map.delete(cold ?? idle ?? (map.keys().next().value as string));
    }
  }

  private kindOf(map: Map<string, Counter>): CounterKind {
    if (map === this.accounts) return 'account';
    return map === this.pairs ? 'pair' : 'address';
  }
}
