/**
 * Brute-force protection for password checks. Failed logins are counted per account and per client
 * address; past a threshold, further attempts are refused with 429 and a Retry-After that doubles
 * with each further failure (capped), and no account gets more than `maxFailuresPerAccountPerHour`
 * password checks that fail within any hour (OWASP ASVS 2.2.1: at most 100).
 *
 * What it does not do is lock anyone out who already proved their password:
 * - call `check()` only for credentials the verified-credential cache does not hold;
 * - a pair that succeeded within `rememberSuccess` passes even while its account or address is
 *   blocked (remembered as an HMAC under a per-process key, like the credential cache);
 * - counters are per account and per address, so a flood against one account or from one address
 *   leaves other accounts and other addresses alone.
 *
 * Concurrency: each `check()` returns an attempt that must be settled once (success, failure, or
 * cancel when the check could not be made, e.g. the directory was down). Unsettled attempts count
 * against the limits, so a burst of parallel guesses cannot slip past them; identical pairs in
 * flight together count once (they share one password check), and repeating a wrong password that
 * was already counted is not a new guess, so it is not counted against the account again.
 *
 * Memory is bounded: at most `maxTrackedKeys` accounts, addresses and remembered successes each,
 * least recently used first out (preferring entries that block nothing), and entries whose windows
 * have passed are dropped as the oldest ones are visited. Time comes from an injectable clock.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import { durationSchema } from '../config/duration.js';
import { RegistryError } from '../errors.js';
import type { AuthProvider, Credentials, Identity } from './identity.js';

const duration = (fallback: string) => durationSchema(fallback);

export const throttleConfigSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    /** Failures of one account before its attempts are delayed. */
    maxFailuresPerAccount: z.number().int().min(1).max(1000).default(5),
    /** Failures from one client address (IPv6: one prefix) before its attempts are delayed. */
    maxFailuresPerIp: z.number().int().min(1).max(100_000).default(20),
    /** Hard cap of failed password checks per account in any hour; at most 100 (OWASP ASVS 2.2.1). */
    maxFailuresPerAccountPerHour: z.number().int().min(1).max(100).default(100),
    /** First delay once a threshold is reached; each further failure doubles it. */
    baseDelay: duration('1s'),
    maxDelay: duration('15m'),
    /** Failure counts are forgotten after this long without a new failure. */
    forgetAfter: duration('1h'),
    /** A user+password pair that succeeded is let through a block for this long. 0 turns this off. */
    rememberSuccess: duration('24h'),
    /** IPv6 clients are counted per prefix of this length (one customer usually has a /64). */
    ipv6Prefix: z.number().int().min(32).max(128).default(64),
    /** Most accounts, addresses and remembered successes tracked (each). */
    maxTrackedKeys: z.number().int().min(10).max(10_000_000).default(10_000),
  })
  .superRefine((value, ctx) => {
    if (value.maxDelay < value.baseDelay) ctx.addIssue({ code: 'custom', path: ['maxDelay'], message: 'must not be shorter than baseDelay' });
  });

export type ThrottleConfigInput = z.input<typeof throttleConfigSchema>;
export type ThrottleConfig = z.output<typeof throttleConfigSchema>;

/** One password check in progress. Settle it exactly once; later calls are ignored. */
export interface LoginAttempt {
  /** The password was right. */
  success(): void;
  /** The password was wrong, or the user unknown. */
  failure(): void;
  /** No password check was made (the provider failed): counts as nothing. */
  cancel(): void;
}

export interface LoginThrottleOptions {
  /** Clock in ms, for tests. */
  readonly now?: () => number;
}

const HOUR_MS = 3_600_000;
const RECENT_WRONG_PASSWORDS = 8;
const EVICTION_SCAN = 64;

interface Counter {
  failures: number;
  lastFailureAt: number;
  blockedUntil: number;
  /** Attempts in flight, by pair digest (or a unique token when there is no password). */
  readonly pending: Map<string, Pending>;
  /** Accounts only: times of failures within the last hour, oldest first. */
  readonly hourly: number[];
  /** Accounts only: digests of the latest wrong passwords. */
  readonly recentWrong: string[];
}

interface Pending {
  /** Attempts sharing this pair, i.e. one password check. */
  count: number;
  /** One of them failed already and was counted. */
  failed: boolean;
}

type Limit = { readonly blocked: false } | { readonly blocked: true; readonly retryAfterMs: number };
const OPEN: Limit = { blocked: false };

const NOOP_ATTEMPT: LoginAttempt = Object.freeze({ success() {}, failure() {}, cancel() {} });

export class LoginThrottle {
  private readonly config: ThrottleConfig;
  private readonly now: () => number;
  private readonly secret = randomBytes(32);
  private readonly accounts = new Map<string, Counter>();
  private readonly addresses = new Map<string, Counter>();
  private readonly knownGood = new Map<string, number>();
  private tokens = 0;

  constructor(config: ThrottleConfig, options: LoginThrottleOptions = {}) {
    this.config = config;
    this.now = options.now ?? Date.now;
  }

  /**
   * Call before checking a password the credential cache does not vouch for. Throws RegistryError
   * TOOMANYREQUESTS (with Retry-After) when the account or the address is blocked; otherwise
   * returns the attempt to settle. `password` is optional: without it, a success is not remembered
   * and parallel attempts are not recognised as the same pair.
   */
  check(user: string, ip: string, password?: string): LoginAttempt {
    if (!this.config.enabled) return NOOP_ATTEMPT;
    const now = this.now();
    const digest = password === undefined ? undefined : this.digestOf(user, password);
    if (digest !== undefined && this.isKnownGood(digest, now)) return this.trustedAttempt(user, ip, digest);

    const accountKey = normalizeAccount(user);
    const addressKey = normalizeAddress(ip, this.config.ipv6Prefix);
    const account = this.counter(this.accounts, accountKey, now);
    const address = this.counter(this.addresses, addressKey, now);
    const token = digest ?? `attempt:${(this.tokens += 1)}`;
    const limit = longest(
      this.limitOf(account, token, this.config.maxFailuresPerAccount, now),
      this.hourlyLimitOf(account, token, now),
      this.limitOf(address, token, this.config.maxFailuresPerIp, now),
    );
    if (limit.blocked) throw tooManyRequests(limit.retryAfterMs);

    addPending(account, token);
    addPending(address, token);
    let settled = false;
    const settle = (outcome: 'success' | 'failure' | 'cancel') => {
      if (settled) return;
      settled = true;
      const at = this.now();
      const failed = outcome === 'failure';
      // Identical pairs in flight together were one password check: their failure counts once.
      const newFailure = settlePending(account, token, failed);
      settlePending(address, token, failed);
      if (outcome === 'success') {
        this.recordSuccess(account, digest, at);
      } else if (newFailure) {
        this.recordFailure(account, 'account', at, digest);
        this.recordFailure(address, 'address', at, undefined);
      }
      this.trim(this.accounts, at);
      this.trim(this.addresses, at);
    };
    return { success: () => settle('success'), failure: () => settle('failure'), cancel: () => settle('cancel') };
  }

  /** Entries held, for tests and metrics. */
  get size(): { accounts: number; addresses: number; knownGood: number } {
    return { accounts: this.accounts.size, addresses: this.addresses.size, knownGood: this.knownGood.size };
  }

  /** Forgets everything (tests; a config reload). */
  clear(): void {
    this.accounts.clear();
    this.addresses.clear();
    this.knownGood.clear();
  }

  private digestOf(user: string, password: string): string {
    // Length-prefixed, so that no two (user, password) pairs share an input.
    return createHmac('sha256', this.secret).update(`${Buffer.byteLength(user)}:`).update(user).update(password).digest('base64url').slice(0, 22);
  }

  private isKnownGood(digest: string, now: number): boolean {
    const expiresAt = this.knownGood.get(digest);
    if (expiresAt === undefined) return false;
    if (expiresAt <= now) {
      this.knownGood.delete(digest);
      return false;
    }
    return true;
  }

  /** A pair that succeeded before: not held back; if it now fails (password changed), it counts as usual. */
  private trustedAttempt(user: string, ip: string, digest: string): LoginAttempt {
    let settled = false;
    return {
      success: () => {
        if (settled) return;
        settled = true;
        this.remember(digest, this.now());
      },
      failure: () => {
        if (settled) return;
        settled = true;
        this.knownGood.delete(digest);
        const now = this.now();
        const account = this.counter(this.accounts, normalizeAccount(user), now);
        const address = this.counter(this.addresses, normalizeAddress(ip, this.config.ipv6Prefix), now);
        this.recordFailure(account, 'account', now, digest);
        this.recordFailure(address, 'address', now, undefined);
      },
      cancel: () => {
        settled = true;
      },
    };
  }

  private remember(digest: string, now: number): void {
    if (this.config.rememberSuccess <= 0) return;
    this.knownGood.delete(digest);
    this.knownGood.set(digest, now + this.config.rememberSuccess);
    while (this.knownGood.size > this.config.maxTrackedKeys) {
      this.knownGood.delete(this.knownGood.keys().next().value as string);
    }
  }

  /** The counter for `key`, created if needed and moved to the most recently used end. */
  private counter(map: Map<string, Counter>, key: string, now: number): Counter {
    let counter = map.get(key);
    if (counter) {
      map.delete(key);
      if (counter.failures > 0 && now - counter.lastFailureAt >= this.config.forgetAfter) {
        counter.failures = 0;
        counter.recentWrong.length = 0;
      }
    } else {
      counter = { failures: 0, lastFailureAt: -Infinity, blockedUntil: -Infinity, pending: new Map(), hourly: [], recentWrong: [] };
    }
    // Trimmed before the counter goes back in, so that it is never the one dropped.
    this.trim(map, now, 1);
    map.set(key, counter);
    return counter;
  }

  /** Blocked by back-off, or by too many distinct attempts in flight for what is left before the threshold. */
  private limitOf(counter: Counter, token: string, threshold: number, now: number): Limit {
    if (counter.blockedUntil > now) return { blocked: true, retryAfterMs: counter.blockedUntil - now };
    if (counter.pending.has(token)) return OPEN;
    // Below the threshold, as many parallel guesses as failures are left; past it, one at a time.
    if (counter.pending.size >= Math.max(1, threshold - counter.failures)) return { blocked: true, retryAfterMs: 1000 };
    return OPEN;
  }

  private hourlyLimitOf(account: Counter, token: string, now: number): Limit {
    const hourly = account.hourly;
    while (hourly.length > 0 && (hourly[0] as number) <= now - HOUR_MS) hourly.shift();
    if (account.pending.has(token)) return OPEN;
    const cap = this.config.maxFailuresPerAccountPerHour;
    if (hourly.length + account.pending.size < cap) return OPEN;
    // Room again when enough of the hour's failures have aged out for this attempt and those in flight.
    const mustExpire = hourly.length + account.pending.size - cap;
    const until = mustExpire < hourly.length ? (hourly[mustExpire] as number) + HOUR_MS : now + 1000;
    return { blocked: true, retryAfterMs: Math.max(1000, until - now) };
  }

  private recordFailure(counter: Counter, kind: 'account' | 'address', now: number, digest: string | undefined): void {
    const isAccount = kind === 'account';
    const threshold = isAccount ? this.config.maxFailuresPerAccount : this.config.maxFailuresPerIp;
    if (digest !== undefined) {
      // The same wrong password again is not a new guess.
      if (counter.recentWrong.includes(digest)) return;
      counter.recentWrong.push(digest);
      if (counter.recentWrong.length > RECENT_WRONG_PASSWORDS) counter.recentWrong.shift();
    }
    counter.failures += 1;
    counter.lastFailureAt = now;
    if (isAccount) {
      counter.hourly.push(now);
      const cap = this.config.maxFailuresPerAccountPerHour;
      if (counter.hourly.length > cap) counter.hourly.splice(0, counter.hourly.length - cap);
    }
    if (counter.failures >= threshold) {
      const exponent = Math.min(counter.failures - threshold, 40);
      const delay = Math.min(this.config.baseDelay * 2 ** exponent, this.config.maxDelay);
      counter.blockedUntil = Math.max(counter.blockedUntil, now + delay);
    }
  }

  private recordSuccess(account: Counter, digest: string | undefined, now: number): void {
    // The hourly record stays: a success must not hand an attacker a fresh hundred guesses.
    account.failures = 0;
    account.blockedUntil = -Infinity;
    account.recentWrong.length = 0;
    if (digest !== undefined) this.remember(digest, now);
  }

  /**
   * Drops expired entries at the least recently used end, then evicts until `reserve` more fit:
   * among the oldest EVICTION_SCAN, the first that blocks nothing and has no attempt in flight,
   * else the oldest without one in flight, else the oldest.
   */
  private trim(map: Map<string, Counter>, now: number, reserve = 0): void {
    for (const [key, counter] of map) {
      if (!this.isExpired(counter, now)) break;
      map.delete(key);
    }
    const threshold = map === this.accounts ? this.config.maxFailuresPerAccount : this.config.maxFailuresPerIp;
    while (map.size > 0 && map.size + reserve > this.config.maxTrackedKeys) {
      let cold: string | undefined;
      let idle: string | undefined;
      let scanned = 0;
      for (const [key, counter] of map) {
        if (scanned++ >= EVICTION_SCAN) break;
        if (counter.pending.size > 0) continue;
        idle ??= key;
        if (counter.blockedUntil <= now && counter.failures < threshold && counter.hourly.length < this.config.maxFailuresPerAccountPerHour / 2) {
          cold = key;
          break;
        }
      }
      map.delete(cold ?? idle ?? (map.keys().next().value as string));
    }
  }

  private isExpired(counter: Counter, now: number): boolean {
    return (
      counter.pending.size === 0 &&
      counter.blockedUntil <= now &&
      now - counter.lastFailureAt >= Math.max(this.config.forgetAfter, HOUR_MS)
    );
  }
}

/**
 * An AuthProvider that asks the throttle before each password check: put it inside the credential
 * cache (`new CachedVerifier(new ThrottledProvider(chain, throttle), …)`) so that cached pairs never
 * reach it. The client address comes from `credentials.clientIp` (see ThrottledCredentials).
 * A provider that throws (the directory is down: 503) settles the attempt as cancelled.
 */
export class ThrottledProvider implements AuthProvider {
  readonly name: string;

  constructor(
    private readonly provider: AuthProvider,
    private readonly throttle: LoginThrottle,
  ) {
    this.name = provider.name;
  }

  async verify(credentials: ThrottledCredentials): Promise<Identity | null> {
    const attempt = this.throttle.check(credentials.user, credentials.clientIp ?? 'unknown', credentials.password);
    let identity: Identity | null;
    try {
      identity = await this.provider.verify(credentials);
    } catch (error) {
      attempt.cancel();
      throw error;
    }
    if (identity) attempt.success();
    else attempt.failure();
    return identity;
  }

  async close(): Promise<void> {
    await this.provider.close?.();
  }
}

/** Credentials with the address of the client that sent them (after trusted-proxy resolution). */
export interface ThrottledCredentials extends Credentials {
  readonly clientIp?: string;
}

function tooManyRequests(retryAfterMs: number): RegistryError {
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

function addPending(counter: Counter, token: string): void {
  const entry = counter.pending.get(token);
  if (entry) entry.count += 1;
  else counter.pending.set(token, { count: 1, failed: false });
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
 * Account names as directories compare them: Unicode-compatibility folded, case-insensitive,
 * without surrounding white space (so "Alice", "alice " and "ＡＬＩＣＥ" share one counter).
 */
export function normalizeAccount(user: string): string {
  return user.normalize('NFKC').toLowerCase().trim();
}

/** IPv4 as is (also when IPv4-mapped), IPv6 reduced to its /prefix, anything else as given. */
export function normalizeAddress(ip: string, ipv6Prefix = 64): string {
  const bare = ip.trim().replace(/^\[(.*)\]$/, '$1').replace(/%.*$/, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  if (mapped) return mapped[1] as string;
  if (isIPv4(bare)) return bare;
  if (!isIPv6(bare)) return bare.toLowerCase();
  const groups = expandIPv6(bare);
  let bits = ipv6Prefix;
  const out: string[] = [];
  for (const group of groups) {
    const keep = Math.max(0, Math.min(16, bits));
    bits -= 16;
    out.push(((group >> (16 - keep)) << (16 - keep)).toString(16));
    if (keep === 0) out[out.length - 1] = '0';
  }
  return `${out.join(':')}/${ipv6Prefix}`;
}

function expandIPv6(address: string): number[] {
  let text = address;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = text.slice(0, v4.index) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? [] : new Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...zeros, ...right].map((group) => Number.parseInt(group, 16) & 0xffff);
}
