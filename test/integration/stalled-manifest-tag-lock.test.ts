/**
 * A stalled manifest push does not hold the protected-tag lock.
 *
 * The attack: `v*` tags are protected (a push may create one, not move it), and the first push of
 * a new tag runs under a lock the replicas share through Redis, so two pushes cannot both create
 * it. A pusher without `overwrite` sent the headers of `PUT /v2/release/app/manifests/v1` and a few
 * bytes of the manifest, then nothing: the gateway took the lock first and read (or forwarded) the
 * body under it, the lock was renewed while the connection idled, and the legitimate push of that
 * tag on another replica waited 30 s and got 503, for as long as the stall lasted. Now the manifest
 * (capped at the manifest limit) is read whole, under `server.bodyTimeout`, before the lock is
 * taken, so the lock is held only for the compare-and-write, and the stalled request is cut with
 * 408 at its deadline. Two gates in front of one Distribution share one Redis, as replicas do.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { basic, startGate, type TestGate } from '../helpers/gate.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { startDistribution, type RunningDistribution } from '../helpers/distribution.js';
import { startRedis, type RunningRedis } from '../helpers/redis.js';
import { OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, RegistryClient, randomBlob } from '../helpers/registry-client.js';
import { sendSlowly } from '../helpers/slow-client.js';
import { pollUntil, within } from '../helpers/wait.js';

const PASSWORDS = { alice: 'alice-stall-1', mallory: 'mallory-stall-2' };
const RULES = [{ repository: 'release/**', actions: ['pull', 'push'], subjects: ['user:alice', 'user:mallory'], protectedTags: ['v*'] }];
const KEY_PREFIX = 'stall-test:';
const BODY_TIMEOUT_MS = 6000;

let dir: string;
let tls: TlsPair;
let redis: RunningRedis;
let distribution: RunningDistribution;
let replicaA: TestGate;
let replicaB: TestGate;

function replica(name: string): Promise<TestGate> {
  return startGate({
    dir: join(dir, name),
    tls,
    users: PASSWORDS,
    bcryptCost: 4,
    config: {
      access: RULES,
      upstream: { url: distribution.url },
      redis: { url: redis.url, keyPrefix: KEY_PREFIX },
      server: { bodyTimeout: `${BODY_TIMEOUT_MS}ms` },
    },
  });
}

before(async () => {
  dir = await makeTempDir();
  tls = await makeTlsPair(join(dir, 'tls'));
  redis = await startRedis();
  distribution = await startDistribution({ dir: join(dir, 'distribution') });
  replicaA = await replica('a');
  replicaB = await replica('b');
});

after(async () => {
  await replicaA.stop();
  await replicaB.stop();
  await distribution.stop();
  await redis.close();
  if (dir) await removeDir(dir);
});

test("a push that stalls mid-manifest on one replica does not hold the tag: another replica's push of it goes through", async () => {
  const alice = new RegistryClient(() => ({
    baseUrl: replicaB.url,
    dispatcher: replicaB.dispatcher,
    authHeader: basic('alice', PASSWORDS.alice),
  }));
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux' }));
  const layer = randomBlob(1024);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: await alice.pushBlob('release/app', config), size: config.length },
      layers: [{ mediaType: OCI_LAYER, digest: await alice.pushBlob('release/app', layer), size: layer.length }],
    }),
  );

  // Mallory, on replica A: the headers and 10 bytes of a manifest for v1, then nothing.
  const stalled = sendSlowly(replicaA.url, {
    head: [
      'PUT /v2/release/app/manifests/v1 HTTP/1.1',
      `Host: ${replicaA.host}`,
      `Authorization: ${basic('mallory', PASSWORDS.mallory)}`,
      `Content-Type: ${OCI_MANIFEST}`,
      `Content-Length: ${manifest.length}`,
    ].join('\r\n'),
    body: manifest,
    initialBytes: 10,
    ca: tls.caPem,
    timeoutMs: BODY_TIMEOUT_MS + 10_000,
  });

  // Whether the stalled push takes the lock shows within a moment (its authentication is one bcrypt of cost 4).
  const lockKey = `${KEY_PREFIX}lock:release/app:v1`;
  const lockHeld = await pollUntil(
    async () => (await redis.cli('EXISTS', lockKey)).trim() === '1',
    (held) => held,
    { timeoutMs: 1500 },
  );

  const push = await within(
    5000,
    "alice's push of v1 on replica B",
    alice.call('PUT', '/v2/release/app/manifests/v1', { headers: { 'content-type': OCI_MANIFEST }, body: manifest }),
  );
  assert.equal(push.status, 201, `alice's push: ${push.status} ${push.text()}`);
  assert.equal(lockHeld, false, 'the stalled push held the protected-tag lock');

  const cut = await stalled;
  assert.ok(cut.closedByServer, 'the stalled push kept its connection past the body deadline');
  assert.equal(cut.status, 408, `the stalled push: ${JSON.stringify(cut.received.slice(0, 120))}`);
});
