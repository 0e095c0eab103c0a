/**
 * Brute-force protection shared by replicas through a real Redis (Debian's redis-server).
 *
 * The attack: with several registry-gate replicas behind a round-robin load balancer, each keeping
 * its own counters, a guesser gets every limit once per replica: five guesses per account become
 * fifteen with three replicas, the hourly cap three hundred. With `redis`, the replicas keep the
 * counters there, so the whole brute-force contract (test/helpers/throttle-contract.ts) must hold
 * with the attempts spread round-robin over three replicas exactly as it holds for one process; and
 * a parallel burst spread over replicas must not slip past the limits either. When Redis is away,
 * each replica counts by itself (never unthrottled), and an attempt whose replica died stops
 * counting after a minute instead of blocking its client for ever.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { randomBytes } from 'node:crypto';
import { silentLoggers } from '../../src/log.js';
import { RegistryError } from '../../src/oci/errors.js';
import { RedisConnection } from '../../src/redis/connection.js';
import { redisConfigSchema } from '../../src/config/schema/redis.js';
import { LoginThrottle, MemoryCounterStore, RedisCounterStore, type LoginAttempt } from '../../src/auth/throttle/index.js';
import { throttleConfigSchema, type ThrottleConfigInput } from '../../src/config/schema/throttle.js';
import { retryAfter, throttleContract, type ThrottleUnderTest } from '../helpers/throttle-contract.js';
import { freePort } from '../helpers/process.js';
import { startRedis, type RunningRedis } from '../helpers/redis.js';

let redis: RunningRedis;
const connections: RedisConnection[] = [];

before(async () => {
  redis = await startRedis();
});

async function connect(url = redis.url, keyPrefix = `test-${randomBytes(6).toString('hex')}:`): Promise<RedisConnection> {
  const connection = await RedisConnection.open({
    config: { ...redisConfigSchema.parse({ url }), keyPrefix },
    logger: silentLoggers().app,
    connectWaitMs: 1000,
  });
  connections.push(connection);
  return connection;
}

/** `count` replicas sharing one fresh key prefix and one fake clock; attempts go round-robin. */
async function replicas(count: number, overrides: ThrottleConfigInput = {}): Promise<ThrottleUnderTest & { all: LoginThrottle[] }> {
  let now = 1_000_000;
  const config = throttleConfigSchema.parse(overrides);
  const keyPrefix = `test-${randomBytes(6).toString('hex')}:`;
  const all: LoginThrottle[] = [];
  for (let i = 0; i < count; i += 1) {
    const connection = await connect(redis.url, keyPrefix);
    all.push(
      new LoginThrottle(config, {
        now: () => now,
        store: new RedisCounterStore(connection, config),
        fallbacks: [new MemoryCounterStore(config)],
      }),
    );
  }
  let turn = 0;
  return {
    all,
    one: all[0] as LoginThrottle,
    next: () => all[turn++ % all.length] as LoginThrottle,
    advance: (ms) => {
      now += ms;
    },
  };
}

after(async () => {
  for (const connection of connections) connection.close();
  await redis.close();
});

throttleContract('in Redis, one replica', (overrides) => replicas(1, overrides));
throttleContract('in Redis, three replicas taking turns', (overrides) => replicas(3, overrides));

describe('shared throttle: what only replicas have', () => {
  test('a parallel burst through three replicas at once gets no more attempts than one process would give', async () => {
    const t = await replicas(3);
    const results = await Promise.allSettled(
      Array.from({ length: 30 }, (_, i) => (t.all[i % 3] as LoginThrottle).check('alice', '10.0.0.1', `burst-${i}`)),
    );
    const admitted = results
      .filter((result): result is PromiseFulfilledResult<LoginAttempt> => result.status === 'fulfilled')
      .map((result) => result.value);
    for (const result of results) {
      if (result.status === 'rejected')
        assert.ok(result.reason instanceof RegistryError && result.reason.code === 'TOOMANYREQUESTS', String(result.reason));
    }
    assert.ok(admitted.length >= 1 && admitted.length <= 5, `${admitted.length} attempts admitted at once; at most 5 before the threshold`);
    for (const attempt of admitted) await attempt.failure();
    // However the burst was split, once five have failed the client waits.
    for (let i = admitted.length; i < 5; i += 1) await (await t.next().check('alice', '10.0.0.1', `more-${i}`)).failure();
    await retryAfter(() => t.next().check('alice', '10.0.0.1', 'one more'));
  });

  test('an attempt whose replica died before settling it stops counting after a minute', async () => {
    const t = await replicas(3);
    for (let i = 0; i < 5; i += 1) await t.next().check('alice', '10.0.0.1', `never-settled-${i}`); // their replica "died"
    await retryAfter(() => t.next().check('alice', '10.0.0.1', 'the sixth'));
    t.advance(61_000);
    await (await t.next().check('alice', '10.0.0.1', 'the sixth')).cancel();
  });

  test('a stale password retried through three replicas counts once per replica, no more and no less', async () => {
    const t = await replicas(3, { maxFailuresPerIp: 1000 });
    for (let i = 0; i < 50; i += 1) await (await t.next().check('alice', '10.0.0.1', 'stale password in a CI secret')).failure();
    await (await t.next().check('alice', '10.0.0.1', 'a new guess')).failure(); // the fourth failure counted
    await (await t.next().check('alice', '10.0.0.1', 'another new guess')).failure(); // the fifth: blocked from now
    await retryAfter(() => t.next().check('alice', '10.0.0.1', 'a third new guess'));
  });

  test('Redis unavailable: each replica counts by itself, never unthrottled, and says so in its health', async () => {
    const config = throttleConfigSchema.parse({});
    const nowhere = await connect(`redis://127.0.0.1:${await freePort()}`);
    assert.equal(nowhere.health().state, 'down');
    const throttle = new LoginThrottle(config, {
      store: new RedisCounterStore(nowhere, config),
      fallbacks: [new MemoryCounterStore(config)],
    });
    for (let i = 0; i < 5; i += 1) await (await throttle.check('alice', '10.0.0.1', `guess-${i}`)).failure();
    await retryAfter(() => throttle.check('alice', '10.0.0.1', 'guess-5'));
    await (await throttle.check('bob', '10.0.0.2', 'bob-guess')).cancel(); // others are not held back
  });

  test('Redis going away between the check and the outcome: the failure is still counted, by the replica', async () => {
    const config = throttleConfigSchema.parse({});
    const local = await startRedis();
    try {
      const connection = await connect(local.url);
      const throttle = new LoginThrottle(config, {
        store: new RedisCounterStore(connection, config),
        fallbacks: [new MemoryCounterStore(config)],
      });
      const attempts: LoginAttempt[] = [];
      for (let i = 0; i < 5; i += 1) attempts.push(await throttle.check('alice', '10.0.0.1', `guess-${i}`));
      await local.stop();
      for (const attempt of attempts) await attempt.failure();
      await retryAfter(() => throttle.check('alice', '10.0.0.1', 'guess-5'));
    } finally {
      await local.close();
    }
  });
});
