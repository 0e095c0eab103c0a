/**
 * A keyed lock shared by every replica through Redis, for sections that must not interleave across
 * machines: the first push of a protected tag in front of one upstream.
 *
 *   acquire   SET PREFIX lock:KEY TOKEN NX PX TTL     (TOKEN: random, this section's own)
 *   renew     every TTL/3 while the section runs: PEXPIRE, only if the value is still TOKEN
 *   release   DEL, only if the value is still TOKEN   (never another holder's lock)
 *
 * Sections of one process queue locally first (KeyedLock), so a replica asks Redis once per key at a
 * time. A section that cannot get the lock within GRANT_TIMEOUT_MS, or cannot ask because Redis is
 * unavailable, is refused with 503 UNAVAILABLE: a protected tag is never pushed unguarded. If the
 * holder dies, its lock expires after TTL and the next section goes ahead.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { RegistryError } from '../oci/errors.js';
import { isRedisUnavailable, type RedisConnection } from '../redis/connection.js';
import { RedisScript } from '../redis/script.js';
import { KeyedLock, type SectionLock } from '../lib/section-lock.js';

const RENEW = new RedisScript(
  `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`,
);
const RELEASE = new RedisScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`);

const GRANT_TIMEOUT_MS = 30_000;
const DEFAULT_TTL_MS = 15_000;
const POLL_MIN_MS = 10;
const POLL_MAX_MS = 200;

export interface RedisLockOptions {
  readonly redis: RedisConnection;
  readonly logger: Logger;
  /** How long a lock outlives a holder that stopped renewing it (died, or lost Redis). */
  readonly ttlMs?: number;
  /** Longest wait for a lock another section holds. */
  readonly grantTimeoutMs?: number;
}

export class RedisLock implements SectionLock {
  readonly #local = new KeyedLock();
  readonly #redis: RedisConnection;
  readonly #logger: Logger;
  readonly #ttlMs: number;
  readonly #grantTimeoutMs: number;

  constructor(options: RedisLockOptions) {
    this.#redis = options.redis;
    this.#logger = options.logger;
    this.#ttlMs = options.ttlMs ?? DEFAULT_TTL_MS;
    this.#grantTimeoutMs = options.grantTimeoutMs ?? GRANT_TIMEOUT_MS;
  }

  run<T>(key: string, section: () => Promise<T>): Promise<T> {
    return this.#local.run(key, async () => {
      const name = this.#redis.key(`lock:${key}`);
      const token = randomBytes(16).toString('base64url');
      await this.#acquire(name, token);
      const renewal = setInterval(() => void this.#renew(name, token, key), Math.max(100, Math.floor(this.#ttlMs / 3)));
      renewal.unref();
      try {
        return await section();
      } finally {
        clearInterval(renewal);
        await this.#redis
          .run((client) => RELEASE.run(client, [name], [token]))
          .catch(() => {
            // It expires after the TTL; the next section waits until then.
            this.#logger.warn({ lock: key }, 'could not release a shared lock (Redis unavailable); it expires by itself');
          });
      }
    });
  }

  async #acquire(name: string, token: string): Promise<void> {
    const deadline = Date.now() + this.#grantTimeoutMs;
    let pause = POLL_MIN_MS;
    for (;;) {
      let granted: string | null;
      try {
        granted = await this.#redis.run((client) => client.set(name, token, 'PX', this.#ttlMs, 'NX'));
      } catch (error) {
        if (!isRedisUnavailable(error)) throw error;
        throw new RegistryError('UNAVAILABLE', 'pushes of protected tags are refused while the shared lock store is unavailable', {
          headers: { 'Retry-After': '5' },
        });
      }
      if (granted === 'OK') return;
      if (Date.now() >= deadline)
        throw new RegistryError('UNAVAILABLE', 'another push of this tag is still in progress', { headers: { 'Retry-After': '5' } });
      await sleep(pause + Math.random() * pause);
      pause = Math.min(pause * 2, POLL_MAX_MS);
    }
  }

  async #renew(name: string, token: string, key: string): Promise<void> {
    try {
      const renewed = await this.#redis.run((client) => RENEW.run(client, [name], [token, this.#ttlMs]));
      if (renewed !== 1)
        this.#logger.error({ lock: key }, 'a shared lock expired while its section still ran (the push is checked again after the write)');
    } catch {
      // Logged by the connection; if Redis stays away the lock expires and the after-write check reports a move.
    }
  }
}
