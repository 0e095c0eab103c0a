/**
 * A Redis outage under a replica (registry-gate in front of Distribution, `redis` configured).
 *
 * Failing open would hand an attacker the outage: no login throttle, and protected tags pushed
 * without the shared lock, so two replicas could both create the same release. Failing closed on
 * everything would turn a cache outage into a registry outage. What must happen instead: the
 * replica says so (an error in its log, `degraded` in /readyz), logins held by the credential cache
 * keep working, new password checks are throttled by the replica alone, pushes of protected tags
 * are refused with 503 and Retry-After while everything else works; and when Redis is back, all of
 * it comes back without a restart.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { join } from 'node:path';
import { request } from 'undici';
import { basic } from '../helpers/gate.js';
import { startConfiguredGateProcess, type GateProcess } from '../helpers/gate-process.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { startDistribution, type RunningDistribution } from '../helpers/distribution.js';
import { startRedis, type RunningRedis } from '../helpers/redis.js';
import { OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, RegistryClient, randomBlob, type Reply } from '../helpers/registry-client.js';
import { pollUntil } from '../helpers/wait.js';

const PASSWORDS = { alice: 'alice-Outage-pw-1', bob: 'bob-Outage-pw-2' };

let dir: string;
let distribution: RunningDistribution;
let redis: RunningRedis;
let gate: GateProcess;
let alice: RegistryClient;

async function readiness(): Promise<{ status: string; checks: { redis?: { state: string; reason?: string } } }> {
  const response = await request(`${gate.url}/readyz`);
  assert.equal(response.statusCode, 200, 'readiness answers 200 whatever Redis does');
  return (await response.body.json()) as { status: string; checks: { redis?: { state: string; reason?: string } } };
}

async function login(user: string, password: string): Promise<number> {
  const response = await request(`${gate.url}/v2/`, { headers: { authorization: basic(user, password) } });
  await response.body.dump();
  return response.statusCode;
}

/** Config and layer pushed, manifest not: what a protected-tag push sends last. */
async function prepareManifest(repository: string, label: string): Promise<Buffer> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', label }));
  const layer = randomBlob(1024);
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: await alice.pushBlob(repository, config), size: config.length },
      layers: [{ mediaType: OCI_LAYER, digest: await alice.pushBlob(repository, layer), size: layer.length }],
    }),
  );
}

function putManifest(repository: string, tag: string, manifest: Buffer): Promise<Reply> {
  return alice.call('PUT', `/v2/${repository}/manifests/${tag}`, { headers: { 'content-type': OCI_MANIFEST }, body: manifest });
}

before(async () => {
  dir = await makeTempDir('rg-redis-outage-');
  [distribution, redis] = await Promise.all([startDistribution({ dir: join(dir, 'distribution') }), startRedis()]);
  gate = await startConfiguredGateProcess({
    dir,
    users: PASSWORDS,
    config: {
      tls: 'off',
      upstream: { url: distribution.url },
      auth: { htpasswd: 'htpasswd', throttle: { baseDelay: '30s', maxFailuresPerIp: 100_000 } },
      redis: { url: redis.url },
      access: [
        { repository: 'release/**', actions: ['pull', 'push'], subjects: ['authenticated'], protectedTags: ['v*'] },
        { repository: 'team/**', actions: ['pull', 'push'], subjects: ['authenticated'] },
      ],
      log: { level: 'info', access: false },
      audit: { enabled: false },
    },
  });
  alice = new RegistryClient(() => ({ baseUrl: gate.url, authHeader: basic('alice', PASSWORDS.alice) }));
});

after(async () => {
  await gate.stop();
  await Promise.all([distribution.stop(), redis.close()]);
  if (dir) await removeDir(dir);
});

describe('a replica whose Redis goes away', () => {
  let protectedManifest: Buffer;

  test('with Redis up: ready, and the login is cached', async () => {
    const ready = await readiness();
    assert.equal(ready.status, 'ok');
    assert.equal(ready.checks.redis?.state, 'up');
    assert.equal(await login('alice', PASSWORDS.alice), 200);
    protectedManifest = await prepareManifest('release/app', 'outage');
  });

  test('Redis down: said loudly, cached logins work, new password checks are throttled here, protected-tag pushes get 503, the rest works', async () => {
    await redis.stop();
    const degraded = await pollUntil(readiness, (body) => body.status === 'degraded', { timeoutMs: 8000, intervalMs: 100 });
    assert.equal(degraded.status, 'degraded');
    assert.equal(degraded.checks.redis?.state, 'down');
    // Readiness can notice the outage before the connection's own log line is written: wait for the line.
    const said = await pollUntil(
      () => Promise.resolve(gate.output()),
      (text) => text.includes('"code":"RG_ERR_REDIS_UNAVAILABLE"'),
    );
    assert.match(said, /"level":"error"[^\n]*"code":"RG_ERR_REDIS_UNAVAILABLE"/);

    assert.equal(await login('alice', PASSWORDS.alice), 200, 'a login the credential cache holds');
    const guesses: number[] = [];
    for (let i = 0; i < 8; i += 1) guesses.push(await login('bob', `guess-${i}`));
    assert.deepEqual(guesses, [401, 401, 401, 401, 401, 429, 429, 429], 'throttled by this replica alone, never unthrottled');

    const refused = await putManifest('release/app', 'v1', protectedManifest);
    assert.equal(refused.status, 503, refused.text());
    assert.equal(refused.json<{ errors: Array<{ code: string }> }>().errors[0]?.code, 'UNAVAILABLE');
    assert.ok(refused.headers['retry-after'], 'with Retry-After');
    assert.equal((await alice.call('HEAD', '/v2/release/app/manifests/v1')).status, 404, 'nothing was pushed');

    const other = await prepareManifest('team/app', 'during-outage');
    assert.equal((await putManifest('team/app', 'latest', other)).status, 201, 'a tag no rule protects is pushed as usual');
  });

  test('Redis back: ready again without a restart, and the protected tag can be pushed', async () => {
    await redis.start();
    const ready = await pollUntil(readiness, (body) => body.status === 'ok', { timeoutMs: 8000, intervalMs: 100 });
    assert.equal(ready.checks.redis?.state, 'up');
    assert.match(gate.output(), /Redis is available again/);
    assert.equal((await putManifest('release/app', 'v1', protectedManifest)).status, 201);
  });
});
