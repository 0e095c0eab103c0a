/**
 * The protected-tag lock shared by replicas through a real Redis (src/server/redis-lock.ts).
 *
 * The race it prevents: two replicas each check "does v1 exist?" before either writes, both find
 * it missing, both push, and the tag ends on whichever write lands last. Each replica serialising
 * its own pushes (KeyedLock, or ClusterLock across its workers) does not stop the other replica; the
 * lock must be one for all of them. It must also never be left unguarded: when Redis cannot be
 * asked, the section is refused (503) instead of run without the lock, and a holder that died does
 * not block the tag for ever.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { randomBytes } from 'node:crypto';
import { silentLoggers } from '../../src/log.js';
import { RegistryError } from '../../src/oci/errors.js';
import { RedisConnection } from '../../src/redis/connection.js';
import { redisConfigSchema } from '../../src/config/schema/redis.js';
import { RedisLock } from '../../src/server/redis-lock.js';
import { freePort } from '../helpers/process.js';
import { startRedis, type RunningRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

let redis: RunningRedis;
const connections: RedisConnection[] = [];

async function connect(url = redis.url, keyPrefix = `lock-test-${randomBytes(4).toString('hex')}:`): Promise<RedisConnection> {
  const connection = await RedisConnection.open({
    config: { ...redisConfigSchema.parse({ url }), keyPrefix },
    logger: silentLoggers().app,
    connectWaitMs: 1000,
  });
  connections.push(connection);
  return connection;
}

/** Two replicas' locks on one Redis, under one prefix. */
async function twoReplicas(
  options: { ttlMs?: number; grantTimeoutMs?: number } = {},
): Promise<[RedisLock, RedisLock, RedisConnection, RedisConnection]> {
  const prefix = `lock-test-${randomBytes(4).toString('hex')}:`;
  const [a, b] = [await connect(redis.url, prefix), await connect(redis.url, prefix)];
  const logger = silentLoggers().app;
  return [new RedisLock({ redis: a, logger, ...options }), new RedisLock({ redis: b, logger, ...options }), a, b];
}

before(async () => {
  redis = await startRedis();
});

after(async () => {
  for (const connection of connections) connection.close();
  await redis.close();
});

describe('a lock shared through Redis', () => {
  test('sections with one key never overlap, whichever replica runs them', async () => {
    const [a, b, connectionA, connectionB] = await twoReplicas();
    let inside = 0;
    let most = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        (i % 2 === 0 ? a : b).run('release/app:v1', async () => {
          inside += 1;
          most = Math.max(most, inside);
          // A round trip to Redis inside the section: the other replica's attempts are answered meanwhile.
          await (i % 2 === 0 ? connectionA : connectionB).client.ping();
          order.push(i);
          inside -= 1;
        }),
      ),
    );
    assert.equal(most, 1, 'never two sections at once');
    assert.equal(order.length, 12, 'every section ran');
  });

  test('sections with different keys run at the same time', async () => {
    const [a, b] = await twoReplicas();
    let inside = 0;
    let most = 0;
    const section = async () => {
      inside += 1;
      most = Math.max(most, inside);
      await waitFor('both sections inside at once', () => most === 2, { timeoutMs: 3000 });
      inside -= 1;
    };
    await Promise.all([a.run('release/app:v1', section), b.run('release/app:v2', section)]);
    assert.equal(most, 2);
  });

  test('the lock of a replica that died expires, and the next section goes ahead', async () => {
    const [a, b, connectionA, connectionB] = await twoReplicas({ ttlMs: 600 });
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    const dying = a.run('release/app:v1', async () => {
      entered();
      await held;
    });
    await inside;
    const name = connectionA.key('lock:release/app:v1');
    const deadHolder = await connectionA.client.get(name);
    assert.ok(deadHolder, 'the dying replica holds the lock');
    connectionA.close(); // the replica is gone: no renewal, no release
    let holderWhenEntering: string | null = deadHolder;
    let ran = false;
    const next = b.run('release/app:v1', async () => {
      holderWhenEntering = await connectionB.client.get(name);
      ran = true;
    });
    await waitFor("the next section goes ahead once the dead holder's lock expired", () => ran, { timeoutMs: 3000 });
    await next;
    assert.notEqual(holderWhenEntering, deadHolder, "the next section ran only after the dead holder's lock was gone");
    release();
    await dying.catch(() => undefined);
  });

  test('a lock held longer than its TTL stays held while its holder renews it', async () => {
    const [a, b, connectionA] = await twoReplicas({ ttlMs: 300 });
    const name = connectionA.key('lock:release/app:v1');
    let overlapped = false;
    let inA = false;
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    const first = a.run('release/app:v1', async () => {
      inA = true;
      entered();
      // Held past its TTL: the key's remaining time went back up (a renewal) four times, 400 ms of a 300 ms TTL.
      let renewals = 0;
      let last = Infinity;
      await waitFor('four renewals of the held lock', async () => {
        const left = await connectionA.client.pttl(name);
        if (left > last) renewals += 1;
        last = left;
        return renewals >= 4;
      });
      inA = false;
    });
    await inside;
    await b.run('release/app:v1', () => {
      overlapped = inA;
      return Promise.resolve();
    });
    await first;
    assert.equal(overlapped, false);
  });

  test('Redis unavailable: the section is refused with 503, never run unguarded', async () => {
    const nowhere = await connect(`redis://127.0.0.1:${await freePort()}`);
    const lock = new RedisLock({ redis: nowhere, logger: silentLoggers().app });
    let ran = false;
    await assert.rejects(
      lock.run('release/app:v1', () => {
        ran = true;
        return Promise.resolve();
      }),
      (error: unknown) => error instanceof RegistryError && error.status === 503 && error.headers['Retry-After'] !== undefined,
    );
    assert.equal(ran, false);
  });

  test('a section that waits too long for the lock is refused with 503', async () => {
    const [a, b] = await twoReplicas({ grantTimeoutMs: 300 });
    let release!: () => void;
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    const holding = a.run(
      'release/app:v1',
      () =>
        new Promise<void>((resolve) => {
          release = resolve;
          entered();
        }),
    );
    await inside;
    await assert.rejects(
      b.run('release/app:v1', () => Promise.resolve()),
      (error: unknown) => error instanceof RegistryError && error.status === 503,
    );
    release();
    await holding;
  });
});
