/**
 * Revocations published through Redis reach every replica (src/auth/revocations.ts).
 *
 * The attack: an operator revokes a leaked robot secret with `registry-gate token revoke` on one
 * machine. Replicas whose copy of the robot store has not caught up yet (a Kubernetes secret takes
 * a minute or more to reach every pod; a volume synced by a job, later still) keep accepting the
 * secret, and its refresh tokens, for as long as their copy is old. With `redis`, the revocation is
 * published and kept: every replica refuses the robot within 2 s whatever its file says, and so does
 * a replica started later from an old copy. Without Redis, such a replica keeps accepting it, which
 * is why the files must then be shared.
 *
 * The channel itself (with stand-ins for the files): a change one replica notices makes the others
 * re-read theirs at once, each change is published once, not echoed back and forth, and a replica
 * that lost Redis for a while catches up when it is back.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { basic, startGate, type TestGate } from '../helpers/gate.js';
import { CLI } from '../helpers/gate-process.js';
import { makeTempDir, removeDir, runProcess } from '../helpers/process.js';
import { startRedis, type RunningRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';
import { createRobot } from '../../src/auth/token/robots.js';
import { RedisConnection } from '../../src/redis/connection.js';
import { redisConfigSchema } from '../../src/config/schema/redis.js';
import { RevocationChannel, publishRobotRevocation } from '../../src/auth/revocations.js';
import { silentLoggers } from '../../src/log.js';

let dir: string;
let redis: RunningRedis;

before(async () => {
  dir = await makeTempDir('rg-shared-revocation-');
  redis = await startRedis();
});

after(async () => {
  await redis.close();
  if (dir) await removeDir(dir);
});

describe('a robot revoked on one machine, replicas with their own copies of the robot store', () => {
  const gates: TestGate[] = [];
  let original: string;
  let secret: string;

  /** A replica with its own copy of the robot store as it was before the revocation. */
  async function replica(name: string, options: { redis: boolean }): Promise<TestGate> {
    const robots = join(dir, `${name}-robots.json`);
    await copyFile(original, robots);
    const gate = await startGate({
      dir: join(dir, name),
      bcryptCost: 4,
      config: {
        auth: { token: { robots, keyDir: join(dir, 'keys') } },
        ...(options.redis ? { redis: { url: redis.url, keyPrefix: 'revocation-test:' } } : {}),
        access: [{ repository: 'ci/**', actions: ['pull', 'push'], subjects: ['authenticated'] }],
      },
    });
    gates.push(gate);
    return gate;
  }

  const robotLogin = async (gate: TestGate): Promise<number> => {
    const response = await request(`${gate.url}/v2/`, { headers: { authorization: basic('robot$ci', secret) } });
    await response.body.dump();
    return response.statusCode;
  };

  const tokenRequest = async (gate: TestGate, form: Record<string, string>): Promise<{ status: number; refreshToken?: string }> => {
    const response = await request(`${gate.url}/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        service: 'registry-gate',
        client_id: 'revocation-test',
        scope: 'repository:ci/app:pull',
        ...form,
      }).toString(),
    });
    const body = (await response.body.json()) as { refresh_token?: string };
    return { status: response.statusCode, ...(body.refresh_token ? { refreshToken: body.refresh_token } : {}) };
  };

  before(async () => {
    original = join(dir, 'robots.json');
    secret = (await createRobot(original, { name: 'ci', scopes: ['repository:ci/*:pull,push'], expires: null })).secret;
  });

  after(async () => {
    for (const gate of gates) await gate.stop();
  });

  test('`token revoke` on one machine: a replica whose file still lists the robot refuses it within 2 s, refresh tokens too', async () => {
    const here = await replica('here', { redis: true });
    const there = await replica('there', { redis: true });
    assert.equal(await robotLogin(here), 200);
    assert.equal(await robotLogin(there), 200, 'accepted and now held in the credential cache');
    const login = await tokenRequest(there, { grant_type: 'password', username: 'robot$ci', password: secret, access_type: 'offline' });
    assert.equal(login.status, 200);
    assert.ok(login.refreshToken);

    const config = join(dir, 'here.yaml');
    await writeFile(
      config,
      JSON.stringify({
        auth: { token: { robots: join(dir, 'here-robots.json'), keyDir: join(dir, 'keys') } },
        redis: { url: redis.url, keyPrefix: 'revocation-test:' },
      }),
    );
    const revoked = await runProcess(process.execPath, [CLI, 'token', 'revoke', 'ci', '--config', config], { cwd: dir, timeoutMs: 30_000 });
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(revoked.stderr, /Published to every replica through Redis/);

    await waitFor(
      'the robot and its refresh token refused there, though its file still lists the robot',
      async () =>
        (await robotLogin(there)) === 401 &&
        (await tokenRequest(there, { grant_type: 'refresh_token', refresh_token: login.refreshToken ?? '' })).status === 401,
      { timeoutMs: 2000, intervalMs: 50 },
    );
    assert.equal(await robotLogin(here), 401);
  });

  test('a replica started later from an old copy refuses the robot at once: the revocation is kept in Redis', async () => {
    const late = await replica('late', { redis: true });
    assert.equal(await robotLogin(late), 401);
  });

  test('without Redis, a replica with an old copy still accepts it: such files must be shared', async () => {
    const alone = await replica('alone', { redis: false });
    assert.equal(await robotLogin(alone), 200);
  });
});

describe('the revocation channel', () => {
  interface StandIn {
    channel: RevocationChannel;
    connection: RedisConnection;
    reloads: number;
    refused: Set<string>;
    /** Simulates this replica's watcher noticing a change of one of its files. */
    fileChanged(): void;
  }
  const connections: RedisConnection[] = [];

  /** Publishes a revocation of `id` from a connection of its own and waits until every stand-in has refused it. */
  async function heardByAll(prefix: string, replicas: StandIn[], id: string): Promise<void> {
    const publisher = await RedisConnection.open({
      config: { ...redisConfigSchema.parse({ url: redis.url }), keyPrefix: prefix },
      logger: silentLoggers().app,
      connectWaitMs: 1000,
    });
    connections.push(publisher);
    await publishRobotRevocation(publisher, { id, expires: null });
    await waitFor(`every replica heard ${id}`, () => replicas.every((replica) => replica.refused.has(id)));
  }

  async function standIn(prefix: string, onReload?: (self: StandIn) => void): Promise<StandIn> {
    const connection = await RedisConnection.open({
      config: { ...redisConfigSchema.parse({ url: redis.url }), keyPrefix: prefix },
      logger: silentLoggers().app,
      connectWaitMs: 1000,
    });
    connections.push(connection);
    const listeners: Array<() => void> = [];
    const self: StandIn = {
      channel: undefined as unknown as RevocationChannel,
      connection,
      reloads: 0,
      refused: new Set(),
      fileChanged: () => listeners.forEach((listener) => listener()),
    };
    self.channel = await RevocationChannel.open(
      connection,
      {
        reloadFiles: () => {
          self.reloads += 1;
          onReload?.(self);
          return Promise.resolve();
        },
        refuseRobots: (ids) => {
          for (const id of ids) self.refused.add(id);
        },
        refuseUsers: () => undefined,
        onFilesChange: (listener) => listeners.push(listener),
      },
      silentLoggers().app,
    );
    return self;
  }

  after(() => {
    for (const connection of connections) connection.close();
  });

  test('a file change one replica notices makes the others re-read at once, published once and never echoed', async () => {
    const prefix = `channel-${randomBytes(4).toString('hex')}:`;
    // Each re-read "finds the change" too, as a replica re-reading a changed shared file would.
    const replicas = await Promise.all([0, 1, 2].map(() => standIn(prefix, (self) => self.fileChanged())));
    await waitFor("the subscriptions' first re-read", () => replicas.every((replica) => replica.reloads > 0));
    await heardByAll(prefix, replicas, 'probe-after-subscribing');
    const published = async () => Number((await redis.cli('PUBSUB', 'NUMSUB', `${prefix}revocations`)).split('\n')[1]);
    assert.equal(await published(), 3, 'every replica listens');
    const before = replicas.map((replica) => replica.reloads);
    replicas[0]!.fileChanged();
    await waitFor('the others re-read', () => replicas.slice(1).every((replica, i) => replica.reloads > (before[i + 1] as number)), {
      timeoutMs: 1000,
    });
    // A later message every replica has heard (one re-read each): anything sent before it, an echo, has been heard too.
    await heardByAll(prefix, replicas, 'probe-after-the-change');
    assert.equal(replicas[0]!.reloads, (before[0] as number) + 1, 'the replica that noticed does not hear its own message');
    for (const [i, replica] of replicas.entries())
      assert.equal(replica.reloads, (before[i] as number) + (i === 0 ? 1 : 2), `replica ${i} re-read once, no echo`);
  });

  test('a revoked robot reaches every replica, also one that subscribes later', async () => {
    const prefix = `channel-${randomBytes(4).toString('hex')}:`;
    const first = await standIn(prefix);
    await waitFor('subscribed', async () => Number((await redis.cli('PUBSUB', 'NUMSUB', `${prefix}revocations`)).split('\n')[1]) === 1);
    // The `token revoke` command's own connection.
    const publisher = await RedisConnection.open({
      config: { ...redisConfigSchema.parse({ url: redis.url }), keyPrefix: prefix },
      logger: silentLoggers().app,
      connectWaitMs: 1000,
    });
    connections.push(publisher);
    await publishRobotRevocation(publisher, { id: 'robot-id-1', expires: null });
    await waitFor('the revocation heard', () => first.refused.has('robot-id-1'), { timeoutMs: 1000 });
    const later = await standIn(prefix);
    assert.ok(later.refused.has('robot-id-1'));
  });

  test('a replica that starts while Redis is down hears revocations once it is up', async () => {
    const late = await startRedis();
    try {
      await late.stop();
      const prefix = `channel-${randomBytes(4).toString('hex')}:`;
      const connection = await RedisConnection.open({
        config: { ...redisConfigSchema.parse({ url: late.url }), keyPrefix: prefix },
        logger: silentLoggers().app,
        connectWaitMs: 200,
      });
      connections.push(connection);
      assert.equal(connection.health().state, 'down');
      let reconnects = 0;
      connection.client.on('reconnecting', () => (reconnects += 1));
      const refused = new Set<string>();
      await RevocationChannel.open(
        connection,
        {
          reloadFiles: () => Promise.resolve(),
          refuseRobots: (ids) => [...ids].forEach((id) => refused.add(id)),
          refuseUsers: () => undefined,
          onFilesChange: () => undefined,
        },
        silentLoggers().app,
      );
      await waitFor('several failed reconnects', () => reconnects >= 3);
      await late.start();
      await waitFor('connected', () => connection.health().state === 'up', { timeoutMs: 6000 });
      const publisher = await RedisConnection.open({
        config: { ...redisConfigSchema.parse({ url: late.url }), keyPrefix: prefix },
        logger: silentLoggers().app,
        connectWaitMs: 1000,
      });
      connections.push(publisher);
      // Published until heard: the subscription comes back a moment after the connection.
      await waitFor(
        'the revocation heard',
        async () => {
          await publishRobotRevocation(publisher, { id: 'robot-id-3', expires: null });
          return refused.has('robot-id-3');
        },
        { timeoutMs: 6000, intervalMs: 50 },
      );
      assert.equal(Number((await late.cli('PUBSUB', 'NUMSUB', `${prefix}revocations`)).split('\n')[1]), 1, 'subscribed');
    } finally {
      await late.close();
    }
  });

  test('a replica that lost Redis catches up when it is back: it re-reads its files and the revoked robots', async () => {
    const durable = await startRedis({ persist: true });
    try {
      const prefix = `channel-${randomBytes(4).toString('hex')}:`;
      const connection = await RedisConnection.open({
        config: { ...redisConfigSchema.parse({ url: durable.url }), keyPrefix: prefix },
        logger: silentLoggers().app,
        connectWaitMs: 1000,
      });
      connections.push(connection);
      const replica = { reloads: 0, refused: new Set<string>() };
      await RevocationChannel.open(
        connection,
        {
          reloadFiles: () => {
            replica.reloads += 1;
            return Promise.resolve();
          },
          refuseRobots: (ids) => {
            for (const id of ids) replica.refused.add(id);
          },
          refuseUsers: () => undefined,
          onFilesChange: () => undefined,
        },
        silentLoggers().app,
      );
      await waitFor('the first re-read on subscribing', () => replica.reloads > 0);
      // A revocation this replica did not hear of (its message was lost with the connection).
      await durable.cli('ZADD', `${prefix}revoked-robots`, '+inf', 'robot-id-2');
      assert.equal(replica.refused.has('robot-id-2'), false);
      const reloads = replica.reloads;
      await durable.stop();
      await waitFor('the replica sees the outage', () => connection.health().state === 'down');
      await durable.start();
      await waitFor('caught up after the reconnect', () => replica.reloads > reloads && replica.refused.has('robot-id-2'), {
        timeoutMs: 6000,
      });
    } finally {
      await durable.close();
    }
  });
});
