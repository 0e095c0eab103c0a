/**
 * One connection to the Redis that replicas share, and whether it is usable now. Commands never
 * wait for a reconnect (no offline queue) and give up after `commandTimeout`: a Redis outage must
 * turn into a quick, safe answer (a local throttle, a 503 for protected-tag pushes), never a hung
 * request. The connection reconnects by itself; the first failure of an outage and the recovery
 * are logged once each, without the URL's credentials.
 */
import { readFileSync } from 'node:fs';
import { errnoCode } from '../lib/errno.js';
import { randomBytes } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { describeRedis, type ResolvedRedisConfig } from '../config/schema/redis.js';
import { InternalError } from '../lib/internal-errors.js';

/** Thrown by `RedisConnection.run` when Redis did not answer; callers fall back or refuse. */
export class RedisUnavailableError extends InternalError {
  constructor(reason: string) {
    super('RG_ERR_REDIS_UNAVAILABLE', `Redis is unavailable (${reason})`);
    this.name = 'RedisUnavailableError';
  }
}

export function isRedisUnavailable(error: unknown): error is RedisUnavailableError {
  return error instanceof RedisUnavailableError;
}

export interface RedisHealth {
  readonly state: 'up' | 'down';
  /** When the state began (ISO time). */
  readonly since: string;
  /** Why it is down: an error name or code, never a message that could carry a secret. */
  readonly reason?: string;
}

const RECONNECT_MAX_MS = 1000;
const CONNECT_TIMEOUT_MS = 2000;

function reasonOf(error: unknown): string {
  const code = errnoCode(error);
  if (code !== undefined && /^[A-Z0-9_]{1,40}$/.test(code)) return code;
  const message = error instanceof Error ? error.message : '';
  // Redis reply errors start with an upper-case code (NOAUTH, LOADING, READONLY); timeouts are ioredis's own.
  const reply = /^([A-Z]{3,20})\b/.exec(message);
  if (reply) return reply[1] as string;
  if (/timed out/i.test(message)) return 'TIMEOUT';
  if (/writeable|closed|connection/i.test(message)) return 'NOT_CONNECTED';
  return error instanceof Error ? error.name : 'unknown';
}

function clientOptions(config: ResolvedRedisConfig): RedisOptions {
  const tls =
    config.tls === true
      ? {}
      : config.tls && {
          ...(config.tls.ca ? { ca: readFileSync(config.tls.ca) } : {}),
          ...(config.tls.servername ? { servername: config.tls.servername } : {}),
        };
  return {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: config.commandTimeout,
    connectTimeout: CONNECT_TIMEOUT_MS,
    retryStrategy: (times) => Math.min(100 * times, RECONNECT_MAX_MS),
    ...(tls ? { tls } : {}),
  };
}

export interface RedisConnectionOptions {
  readonly config: ResolvedRedisConfig;
  readonly logger: Logger;
  /** How long start-up waits for the first connection before going on without it (default 3 s). */
  readonly connectWaitMs?: number;
}

export class RedisConnection {
  readonly client: Redis;
  /** Tells this process's messages from other replicas' on shared channels. */
  readonly instanceId = randomBytes(9).toString('base64url');
  readonly #config: ResolvedRedisConfig;
  readonly #logger: Logger;
  readonly #where: string;
  #health: RedisHealth = { state: 'down', since: new Date().toISOString(), reason: 'CONNECTING' };
  #announced = false;
  #closed = false;
  #subscriber: Redis | undefined;
  readonly #listeners = new Set<(health: RedisHealth) => void>();

  /** Connects, waiting up to `connectWaitMs`; a Redis that is down at start-up is an outage, not a start-up failure. */
  static async open(options: RedisConnectionOptions): Promise<RedisConnection> {
    const connection = new RedisConnection(options);
    const waitMs = options.connectWaitMs ?? 3000;
    const ready = new Promise<void>((resolve) => connection.client.once('ready', () => resolve()));
    connection.client.connect().catch(() => undefined); // failures arrive as 'error' events; reconnects go on
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([ready, new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)))]);
    clearTimeout(timer);
    if (connection.#health.state === 'down') connection.#markDown(connection.#health.reason ?? 'CONNECTING');
    return connection;
  }

  private constructor(options: RedisConnectionOptions) {
    this.#config = options.config;
    this.#logger = options.logger;
    this.#where = describeRedis(options.config.url);
    this.client = new Redis(options.config.url, clientOptions(options.config));
    this.client.on('ready', () => this.#markUp());
    this.client.on('error', (error: unknown) => this.#markDown(reasonOf(error)));
    this.client.on('close', () => this.#markDown('CLOSED'));
  }

  /** `name` under the configured prefix. */
  key(name: string): string {
    return this.#config.keyPrefix + name;
  }

  get available(): boolean {
    return this.#health.state === 'up';
  }

  health(): RedisHealth {
    return this.#health;
  }

  /** Called on every change between up and down. Returns a function that removes the listener. */
  onHealthChange(listener: (health: RedisHealth) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Runs commands on the client; any failure marks Redis down and becomes RedisUnavailableError. */
  async run<T>(commands: (client: Redis) => Promise<T>): Promise<T> {
    try {
      const result = await commands(this.client);
      if (this.client.status === 'ready') this.#markUp();
      return result;
    } catch (error) {
      const reason = reasonOf(error);
      this.#markDown(reason);
      throw new RedisUnavailableError(reason);
    }
  }

  /** A second connection for SUBSCRIBE (a subscribed connection can run nothing else), made once. */
  subscriber(): Redis {
    if (!this.#subscriber) {
      // SUBSCRIBE waits for a connection however long it takes (ioredis subscribes again after each reconnect).
      this.#subscriber = this.client.duplicate({ lazyConnect: false, enableOfflineQueue: true, maxRetriesPerRequest: null });
      // Failures of the subscriber show on the main connection too; this only keeps them from being unhandled.
      this.#subscriber.on('error', () => undefined);
    }
    return this.#subscriber;
  }

  close(): void {
    this.#closed = true;
    this.#listeners.clear();
    this.#subscriber?.disconnect();
    this.client.disconnect();
  }

  #markUp(): void {
    if (this.#closed || this.#health.state === 'up') return;
    const wasAnnounced = this.#announced;
    this.#health = { state: 'up', since: new Date().toISOString() };
    this.#announced = true;
    if (wasAnnounced)
      this.#logger.warn({ redis: this.#where }, 'Redis is available again: shared throttling, tag locks and revocations are back');
    else
      this.#logger.info(
        { redis: this.#where, keyPrefix: this.#config.keyPrefix },
        'connected to Redis: login throttling, protected-tag locks and revocations are shared with every gateway using this key prefix',
      );
    this.#tell();
  }

  #markDown(reason: string): void {
    if (this.#closed || (this.#health.state === 'down' && this.#announced)) return;
    this.#health = { state: 'down', since: new Date().toISOString(), reason };
    this.#announced = true;
    this.#logger.error(
      { redis: this.#where, reason, code: 'RG_ERR_REDIS_UNAVAILABLE' },
      'Redis is unavailable: logins still work from the credential cache, new password checks are throttled by this replica alone, and protected-tag pushes are refused (503) until it is back',
    );
    this.#tell();
  }

  #tell(): void {
    for (const listener of this.#listeners) {
      try {
        listener(this.#health);
      } catch (error) {
        this.#logger.error({ err: error instanceof Error ? error.message : String(error) }, 'Redis health listener failed');
      }
    }
  }
}
