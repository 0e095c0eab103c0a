/**
 * Revocations every replica hears of at once, through Redis. Each replica still watches its own
 * files (users, groups, robots, keys; a stat poll every second), and keeps doing so while Redis is
 * away; Redis makes a change take effect everywhere without waiting for every replica's poll, and
 * robot revocations take effect even where a replica's copy of the robot store is behind.
 *
 *   PREFIX revocations       channel, JSON messages:
 *                              {"from": ID, "type": "files"}            a credential file changed: re-read yours now
 *                              {"from": ID, "type": "robot", "id": ID}  this robot is revoked
 *                              {"from": ID, "type": "user", "user": NAME, "notBefore": MS}
 *                                                                       this user's sessions and refresh tokens
 *                                                                       issued before MS are revoked
 *   PREFIX revoked-robots    sorted set: revoked robot id → when it would have expired (ms), +inf for never;
 *                            entries past their expiry are dropped (an expired robot is refused anyway)
 *   PREFIX revoked-users     sorted set: folded user name → not-before time (ms), the latest kept; the
 *                            command drops entries older than the longest session or refresh token
 *
 * A replica that notices one of its files change publishes "files", so the others re-read theirs at
 * once, whatever their stat says (a network filesystem may show them a stale one). A re-read that a
 * message caused publishes nothing, so a change makes each replica publish at most once. After a
 * reconnect a replica re-reads its files and the revoked robots, for what it may have missed.
 * `registry-gate token revoke` (a robot, or `--user`), `token rotate-key` and the UI's robot
 * revocation publish too when the config names Redis.
 */
import type { Logger } from 'pino';
import { silentLoggers } from '../log.js';
import type { ResolvedRedisConfig } from '../config/schema/redis.js';
import { isRedisUnavailable, RedisConnection } from '../redis/connection.js';
import { internalErrorCode } from '../lib/internal-errors.js';

const CHANNEL = 'revocations';
const REVOKED_ROBOTS = 'revoked-robots';
const REVOKED_USERS = 'revoked-users';
const MAX_NAME_LENGTH = 256;

export interface RevocationTargets {
  /** Re-reads every credential file now, whatever its stat says. */
  reloadFiles(): Promise<void>;
  /** Refuses the robots with these ids from now on. */
  refuseRobots(ids: Iterable<string>): void;
  /** Refuses these users' sessions and refresh tokens issued before the time given (ms) with each. */
  refuseUsers(entries: Iterable<readonly [user: string, notBefore: number]>): void;
  /** Called after a credential file changed here. */
  onFilesChange(listener: () => void): void;
}

type Message =
  | { from: string; type: 'files' }
  | { from: string; type: 'robot'; id: string }
  | { from: string; type: 'user'; user: string; notBefore: number };

function parseMessage(text: string): Message | undefined {
  try {
    const value = JSON.parse(text) as Partial<Record<string, unknown>>;
    if (typeof value.from !== 'string') return undefined;
    if (value.type === 'files') return { from: value.from, type: 'files' };
    if (value.type === 'robot' && typeof value.id === 'string' && value.id.length <= 100)
      return { from: value.from, type: 'robot', id: value.id };
    if (value.type === 'user' && typeof value.user === 'string' && value.user.length <= MAX_NAME_LENGTH && Number.isFinite(value.notBefore))
      return { from: value.from, type: 'user', user: value.user, notBefore: value.notBefore as number };
  } catch {
    // not ours
  }
  return undefined;
}

export class RevocationChannel {
  readonly #redis: RedisConnection;
  readonly #targets: RevocationTargets;
  readonly #logger: Logger;
  #reloading: Promise<void> | undefined;
  #again = false;
  /** Re-reads a message caused are running: what they find is not published again. */
  #applying = 0;
  #closed = false;
  #stopWatchingHealth: (() => void) | undefined;

  /** Subscribes, loads the revoked robots, and starts publishing this replica's file changes. */
  static async open(redis: RedisConnection, targets: RevocationTargets, logger: Logger): Promise<RevocationChannel> {
    const channel = new RevocationChannel(redis, targets, logger);
    const subscriber = redis.subscriber();
    subscriber.on('message', (name: string, text: string) => {
      if (name === redis.key(CHANNEL)) channel.#receive(text);
    });
    // After a reconnect of either connection (ioredis subscribes again by itself), catch up on what
    // was missed meanwhile; the later of the two finds both connected.
    subscriber.on('ready', () => channel.#catchUp());
    channel.#stopWatchingHealth = redis.onHealthChange((health) => {
      if (health.state === 'up') channel.#catchUp();
    });
    subscriber.subscribe(redis.key(CHANNEL)).catch(() => undefined);
    targets.onFilesChange(() => {
      if (channel.#applying === 0) void publish(redis, { from: redis.instanceId, type: 'files' }).catch(() => undefined);
    });
    await channel.#syncRevoked();
    return channel;
  }

  private constructor(redis: RedisConnection, targets: RevocationTargets, logger: Logger) {
    this.#redis = redis;
    this.#targets = targets;
    this.#logger = logger;
  }

  close(): void {
    this.#closed = true;
    this.#stopWatchingHealth?.();
  }

  #catchUp(): void {
    if (this.#closed) return;
    void this.#syncRevoked();
    this.#reload();
  }

  #receive(text: string): void {
    const message = parseMessage(text);
    if (!message || message.from === this.#redis.instanceId || this.#closed) return;
    if (message.type === 'robot') {
      this.#logger.info({ robotId: message.id }, 'robot revoked on another machine');
      this.#targets.refuseRobots([message.id]);
    }
    if (message.type === 'user') {
      this.#logger.info({ user: message.user }, "user's sessions and refresh tokens revoked on another machine");
      this.#targets.refuseUsers([[message.user, message.notBefore]]);
    }
    this.#reload();
  }

  async #syncRevoked(): Promise<void> {
    try {
      const robotsKey = this.#redis.key(REVOKED_ROBOTS);
      const usersKey = this.#redis.key(REVOKED_USERS);
      const [ids, users] = await this.#redis.run(async (client) => {
        await client.zremrangebyscore(robotsKey, '-inf', Date.now());
        return Promise.all([client.zrange(robotsKey, 0, -1), client.zrange(usersKey, 0, -1, 'WITHSCORES')]);
      });
      this.#targets.refuseRobots(ids);
      this.#targets.refuseUsers(pairs(users));
    } catch (error) {
      if (!isRedisUnavailable(error)) throw error;
      // Logged by the connection; read again on the next reconnect.
    }
  }

  /** Whether another re-read was asked for (and forgets that it was). */
  #takeAgain(): boolean {
    const again = this.#again;
    this.#again = false;
    return again;
  }

  /** One re-read at a time; messages arriving meanwhile make one more. */
  #reload(): void {
    if (this.#reloading) {
      this.#again = true;
      return;
    }
    this.#again = true;
    this.#reloading = (async () => {
      while (this.#takeAgain() && !this.#closed) {
        this.#applying += 1;
        try {
          await this.#targets.reloadFiles();
        } catch (error) {
          this.#logger.error(
            { err: error instanceof Error ? error.message : String(error), code: internalErrorCode(error) },
            're-reading credential files failed',
          );
        } finally {
          this.#applying -= 1;
        }
      }
    })().finally(() => {
      this.#reloading = undefined;
    });
  }
}

async function publish(redis: RedisConnection, message: Message): Promise<void> {
  await redis.run((client) => client.publish(redis.key(CHANNEL), JSON.stringify(message)));
}

/** Tells every replica that a credential file changed (the `token rotate-key` command). */
export async function publishFilesChanged(redis: RedisConnection): Promise<void> {
  await publish(redis, { from: redis.instanceId, type: 'files' });
}

/** Records a robot as revoked and tells every replica (the `token revoke` command). */
export async function publishRobotRevocation(
  redis: RedisConnection,
  robot: { readonly id: string; readonly expires: string | null },
): Promise<void> {
  const until = robot.expires === null ? '+inf' : String(Date.parse(robot.expires));
  await redis.run(async (client) => {
    await client.zadd(redis.key(REVOKED_ROBOTS), until, robot.id);
    await client.publish(redis.key(CHANNEL), JSON.stringify({ from: redis.instanceId, type: 'robot', id: robot.id } satisfies Message));
  });
}

/**
 * Records that `user`'s sessions and refresh tokens issued before `notBefore` (ms) are revoked, and
 * tells every replica (the `token revoke --user` command). Entries older than `keepMs` are dropped:
 * nothing issued before them is still valid.
 */
export async function publishUserRevocation(redis: RedisConnection, user: string, notBefore: number, keepMs: number): Promise<void> {
  const key = redis.key(REVOKED_USERS);
  await redis.run(async (client) => {
    await client.zadd(key, 'GT', notBefore, user);
    await client.zremrangebyscore(key, '-inf', `(${String(Date.now() - keepMs)}`);
    await client.publish(redis.key(CHANNEL), JSON.stringify({ from: redis.instanceId, type: 'user', user, notBefore } satisfies Message));
  });
}

/** A WITHSCORES reply as (member, score) pairs. */
function pairs(reply: readonly string[]): Array<[string, number]> {
  const result: Array<[string, number]> = [];
  for (let index = 0; index + 1 < reply.length; index += 2) {
    const score = Number(reply[index + 1]);
    if (Number.isFinite(score)) result.push([reply[index] as string, score]);
  }
  return result;
}

/**
 * For commands that change credential files: connects to the config's Redis, if any, runs
 * `publish` and disconnects. 'unavailable' when Redis did not answer (the replicas still see the
 * change when they re-read the file).
 */
export async function publishFromCommand(
  config: ResolvedRedisConfig | undefined,
  publish: (redis: RedisConnection) => Promise<void>,
): Promise<'published' | 'no-redis' | 'unavailable'> {
  if (!config) return 'no-redis';
  // A command says what happened itself (the outcome); the connection's own log lines are for servers.
  const redis = await RedisConnection.open({ config, logger: silentLoggers().app });
  try {
    await publish(redis);
    return 'published';
  } catch (error) {
    if (isRedisUnavailable(error)) return 'unavailable';
    throw error;
  } finally {
    redis.close();
  }
}
