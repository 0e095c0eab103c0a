/**
 * The throttle's counters in Redis, shared by every replica: guesses spread round-robin over
 * replicas count as if they all reached one.
 *
 * Each counter is one string key, `<version>:<json>`, named by a hash of what it counts (so no
 * user name or address of unbounded length becomes a key):
 *
 *   PREFIX throttle:pair:<h>      account and address together (back-off)
 *   PREFIX throttle:address:<h>   the address (back-off)
 *   PREFIX throttle:account:<h>   the account (the hourly cap)
 *
 * An update reads the three (MGET), runs the same rules as in memory (counters.ts) and writes back
 * with a compare-and-set script that fails if another replica changed any of them meanwhile; then
 * it runs again, a bounded number of times. A decision that changes nothing (a refusal) writes
 * nothing. Keys expire when nothing in them matters any more (the windows of counters.ts), and an
 * attempt a replica never settled (it died) stops counting after its `until`.
 *
 * What the keys hold never helps guessing passwords: attempts in flight and recent wrong passwords
 * are named by HMACs under a key that never leaves their replica (remembered.ts). So a replica
 * recognises only its own repeats: a stale password retried through three replicas counts up to
 * three times, never less than once.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { isRedisUnavailable, type RedisConnection } from '../../redis/connection.js';
import { RedisScript } from '../../redis/script.js';
import type { ThrottleConfig } from '../../config/schema/throttle.js';
import {
  CounterStoreUnavailable,
  HOUR_MS,
  isExpired,
  newCounter,
  type Counter,
  type CounterKeys,
  type CounterStore,
  type ThrottleCounters,
} from './counters.js';

/** Writes the counters only if each still has the version read; a TTL of 0 deletes. */
const COMPARE_AND_SET = new RedisScript(`
for i = 1, #KEYS do
  local current = redis.call('GET', KEYS[i])
  local version = 0
  if current then version = tonumber(string.match(current, '^(%d+):')) or 0 end
  if version ~= tonumber(ARGV[3 * i - 2]) then return 0 end
end
for i = 1, #KEYS do
  local ttl = tonumber(ARGV[3 * i])
  if ttl > 0 then redis.call('SET', KEYS[i], ARGV[3 * i - 1], 'PX', ttl) else redis.call('DEL', KEYS[i]) end
end
return 1
`);

const MAX_ROUNDS = 12;
/** Kept a little past the last moment it matters, for clocks of replicas that differ slightly. */
const EXPIRY_MARGIN_MS = 60_000;

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

/** A value that cannot be read (another program's, or a future format) starts afresh at its version. */
function decode(value: string | null): { version: number; counter: Counter } {
  if (value === null) return { version: 0, counter: newCounter() };
  const match = /^(\d+):/.exec(value);
  const version = match ? Number(match[1]) : 0;
  try {
    const stored = JSON.parse(value.slice(match ? match[0].length : 0)) as StoredCounter;
    const counter = newCounter();
    counter.failures = stored.f;
    counter.lastFailureAt = stored.l ?? -Infinity;
    counter.blockedUntil = stored.b ?? -Infinity;
    for (const [token, count, failed, until] of stored.p) counter.pending.set(token, { count, failed: failed === 1, until });
    counter.hourly.push(...stored.h);
    counter.recentWrong.push(...stored.w);
    return { version, counter };
  } catch {
    return { version, counter: newCounter() };
  }
}

function keyHash(name: string): string {
  return createHash('sha256').update(name).digest('base64url').slice(0, 22);
}

export class RedisCounterStore implements CounterStore {
  constructor(
    private readonly redis: RedisConnection,
    private readonly config: ThrottleConfig,
  ) {}

  async update<T>(keys: CounterKeys, now: number, change: (counters: ThrottleCounters) => T): Promise<T> {
    const names = [
      this.redis.key(`throttle:pair:${keyHash(keys.pair)}`),
      this.redis.key(`throttle:address:${keyHash(keys.address)}`),
      this.redis.key(`throttle:account:${keyHash(keys.account)}`),
    ];
    for (let round = 0; round < MAX_ROUNDS; round += 1) {
      const values = await this.command((client) => client.mget(...names));
      const read = values.map(decode);
      for (const { counter } of read) dropAbandoned(counter, now);
      const before = read.map(({ counter }) => encode(counter));
      const [pair, address, account] = read.map(({ counter }) => counter) as [Counter, Counter, Counter];
      const result = change({ pair, address, account });
      const after = [pair, address, account].map(encode);
      if (after.every((body, i) => body === before[i])) return result;
      const args = read.flatMap(({ version, counter }, i) => [version, `${version + 1}:${after[i]}`, this.ttlOf(counter, now)]);
      const written = await this.command((client) => COMPARE_AND_SET.run(client, names, args));
      if (written === 1) return result;
      // Another replica changed a counter first: read again, after a short random pause.
      await sleep(1 + Math.random() * Math.min(2 ** round, 20));
    }
    throw new CounterStoreUnavailable('contention');
  }

  private async command<T>(commands: (client: Redis) => Promise<T>): Promise<T> {
    try {
      return await this.redis.run(commands);
    } catch (error) {
      if (isRedisUnavailable(error)) throw new CounterStoreUnavailable('unavailable');
      throw error;
    }
  }

  /** How long the key must live for what it holds to keep mattering; 0 when nothing does. */
  private ttlOf(counter: Counter, now: number): number {
    if (isExpired(counter, now, this.config)) return 0;
    let until = Math.max(now, counter.blockedUntil, counter.lastFailureAt + Math.max(this.config.forgetAfter, HOUR_MS));
    for (const entry of counter.pending.values()) until = Math.max(until, entry.until);
    return Math.ceil(until - now) + EXPIRY_MARGIN_MS;
  }
}

/** Attempts whose replica never settled them stop counting once their time is up. */
function dropAbandoned(counter: Counter, now: number): void {
  for (const [token, entry] of counter.pending) if (entry.until <= now) counter.pending.delete(token);
}
