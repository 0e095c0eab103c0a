/**
 * The throttle's counters and the rules over them, apart from where the counters live (see
 * CounterStore): the same functions decide for one process (memory-store.ts) and for replicas
 * sharing Redis (redis-store.ts).
 */
import { RegistryError } from '../../oci/errors.js';
import type { ThrottleConfig } from '../../config/schema/throttle.js';
import { InternalError } from '../../lib/internal-errors.js';

export const HOUR_MS = 3_600_000;
const RECENT_WRONG_PASSWORDS = 8;

/**
 * What is kept per key. Pairs and addresses use the back-off fields; accounts use `hourly`. All
 * hold the attempts in flight.
 */
export interface Counter {
  failures: number;
  lastFailureAt: number;
  blockedUntil: number;
  /** Attempts in flight, by pair digest (or a unique token when there is no password). */
  readonly pending: Map<string, Pending>;
  /** Accounts only: times of failures within the last hour, oldest first. */
  readonly hourly: number[];
  /** Pairs only: digests of the latest wrong passwords. */
  readonly recentWrong: string[];
}

export interface Pending {
  /** Attempts sharing this pair, i.e. one password check. */
  count: number;
  /** One of them failed already and was counted. */
  failed: boolean;
  /** When a shared store stops counting it (its replica may have died before settling it). */
  until: number;
}

/** The counters one attempt touches. */
export interface ThrottleCounters {
  readonly pair: Counter;
  readonly address: Counter;
  readonly account: Counter;
}

export type CounterKind = keyof ThrottleCounters;

/** Their names: account and address together, the address, the account (normalized). */
export interface CounterKeys {
  readonly pair: string;
  readonly address: string;
  readonly account: string;
}

/**
 * Where the counters live. `update` runs `change` on the current counters of `keys` and keeps what
 * it made of them, as one atomic step. `change` must have no other effect: a shared store runs it
 * again when another replica changed a counter in between.
 */
export interface CounterStore {
  update<T>(keys: CounterKeys, now: number, change: (counters: ThrottleCounters) => T): T | Promise<T>;
}

/** A shared store could not answer: Redis is down, or too busy with these keys to agree in time. */
export class CounterStoreUnavailable extends InternalError {
  constructor(readonly reason: 'unavailable' | 'contention') {
    super('RG_ERR_SHARED_STORE_UNAVAILABLE', `the shared throttle store is ${reason === 'unavailable' ? 'unavailable' : 'contended'}`);
    this.name = 'CounterStoreUnavailable';
  }
}

export type Limit = { readonly blocked: false } | { readonly blocked: true; readonly retryAfterMs: number };
export const OPEN: Limit = { blocked: false };

export function newCounter(): Counter {
  return { failures: 0, lastFailureAt: -Infinity, blockedUntil: -Infinity, pending: new Map(), hourly: [], recentWrong: [] };
}

/** Failure counts are forgotten `forgetAfter` after the last failure. */
export function forgetStale(counters: ThrottleCounters, now: number, config: ThrottleConfig): void {
  for (const counter of [counters.pair, counters.address, counters.account]) {
    if (counter.failures > 0 && now - counter.lastFailureAt >= config.forgetAfter) {
      counter.failures = 0;
      counter.recentWrong.length = 0;
    }
  }
}

/** Blocked by back-off, or by too many distinct attempts in flight for what is left before the threshold. */
export function backoffLimitOf(counter: Counter, token: string, threshold: number, now: number): Limit {
  if (counter.blockedUntil > now) return { blocked: true, retryAfterMs: counter.blockedUntil - now };
  if (counter.pending.has(token)) return OPEN;
  // Below the threshold, as many parallel guesses as failures are left; past it, one at a time.
  if (counter.pending.size >= Math.max(1, threshold - counter.failures)) return { blocked: true, retryAfterMs: 1000 };
  return OPEN;
}

export function hourlyLimitOf(account: Counter, token: string, now: number, cap: number): Limit {
  const hourly = account.hourly;
  while (hourly.length > 0 && (hourly[0] as number) <= now - HOUR_MS) hourly.shift();
  if (account.pending.has(token)) return OPEN;
  if (hourly.length + account.pending.size < cap) return OPEN;
  // Room again when enough of the hour's failures have aged out for this attempt and those in flight.
  const mustExpire = hourly.length + account.pending.size - cap;
  const until = mustExpire < hourly.length ? (hourly[mustExpire] as number) + HOUR_MS : now + 1000;
  return { blocked: true, retryAfterMs: Math.max(1000, until - now) };
}

/** What a new attempt with `token` may do now: the longest of the three limits. */
export function limitOf(counters: ThrottleCounters, token: string, now: number, config: ThrottleConfig): Limit {
  return longest(
    backoffLimitOf(counters.pair, token, config.maxFailuresPerAccount, now),
    backoffLimitOf(counters.address, token, config.maxFailuresPerIp, now),
    hourlyLimitOf(counters.account, token, now, config.maxFailuresPerAccountPerHour),
  );
}

export function addPending(counters: ThrottleCounters, token: string, until: number): void {
  for (const counter of [counters.pair, counters.address, counters.account]) {
    const entry = counter.pending.get(token);
    if (entry) {
      entry.count += 1;
      entry.until = Math.max(entry.until, until);
    } else {
      counter.pending.set(token, { count: 1, failed: false, until });
    }
  }
}

/** Ends one attempt; true when it is a failure and the first of its pair's group to fail. */
function settlePending(counter: Counter, token: string, failed: boolean): boolean {
  const entry = counter.pending.get(token);
  if (!entry) return failed;
  const first = failed && !entry.failed;
  if (failed) entry.failed = true;
  entry.count -= 1;
  if (entry.count <= 0) counter.pending.delete(token);
  return first;
}

/**
 * Ends an attempt admitted with `token`. Identical pairs in flight together were one password
 * check: their failure counts once.
 */
export function settle(
  counters: ThrottleCounters,
  token: string,
  outcome: 'success' | 'failure' | 'cancel',
  digest: string | undefined,
  now: number,
  config: ThrottleConfig,
): void {
  const failed = outcome === 'failure';
  const newFailure = settlePending(counters.pair, token, failed);
  settlePending(counters.address, token, failed);
  settlePending(counters.account, token, failed);
  if (outcome === 'success') recordSuccess(counters.pair);
  else if (newFailure) recordFailure(counters, now, digest, config);
}

/**
 * One failed check. The pair counts it unless it repeats one of the client's latest wrong
 * passwords for the account (then it is no new guess, and the hourly cap does not count it
 * either); the address counts it always.
 */
export function recordFailure(counters: ThrottleCounters, now: number, digest: string | undefined, config: ThrottleConfig): void {
  const { pair, address, account } = counters;
  backOff(address, config.maxFailuresPerIp, now, config);
  if (digest !== undefined) {
    if (pair.recentWrong.includes(digest)) return;
    pair.recentWrong.push(digest);
    if (pair.recentWrong.length > RECENT_WRONG_PASSWORDS) pair.recentWrong.shift();
  }
  backOff(pair, config.maxFailuresPerAccount, now, config);
  account.lastFailureAt = now;
  account.hourly.push(now);
  const cap = config.maxFailuresPerAccountPerHour;
  if (account.hourly.length > cap) account.hourly.splice(0, account.hourly.length - cap);
}

function backOff(counter: Counter, threshold: number, now: number, config: ThrottleConfig): void {
  counter.failures += 1;
  counter.lastFailureAt = now;
  if (counter.failures < threshold) return;
  const exponent = Math.min(counter.failures - threshold, 40);
  const delay = Math.min(config.baseDelay * 2 ** exponent, config.maxDelay);
  counter.blockedUntil = Math.max(counter.blockedUntil, now + delay);
}

function recordSuccess(pair: Counter): void {
  // The account's hourly record stays: a success must not hand an attacker a fresh hundred guesses.
  pair.failures = 0;
  pair.blockedUntil = -Infinity;
  pair.recentWrong.length = 0;
}

/** Holds nothing worth keeping: no failure within its windows, no block, nothing in flight. */
export function isExpired(counter: Counter, now: number, config: ThrottleConfig): boolean {
  return counter.pending.size === 0 && counter.blockedUntil <= now && now - counter.lastFailureAt >= Math.max(config.forgetAfter, HOUR_MS);
}

/** Far from any limit: the first a bounded store lets go when it needs room. */
export function isCold(kind: CounterKind, counter: Counter, now: number, config: ThrottleConfig): boolean {
  if (kind === 'account') return counter.hourly.length < config.maxFailuresPerAccountPerHour / 2;
  const threshold = kind === 'pair' ? config.maxFailuresPerAccount : config.maxFailuresPerIp;
  return counter.blockedUntil <= now && counter.failures < threshold;
}

export function tooManyRequests(retryAfterMs: number): RegistryError {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return new RegistryError('TOOMANYREQUESTS', 'too many failed logins; try again later', { headers: { 'Retry-After': String(seconds) } });
}

function longest(...limits: Limit[]): Limit {
  let result: Limit = OPEN;
  for (const limit of limits) {
    if (limit.blocked && (!result.blocked || limit.retryAfterMs > result.retryAfterMs)) result = limit;
  }
  return result;
}
