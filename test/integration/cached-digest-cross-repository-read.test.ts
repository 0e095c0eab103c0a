/**
 * The attack: content in a cache is stored once per digest, whichever repository it came through.
 * A caller who may pull only repository B, and who knows (or guesses from a public manifest) the
 * digest of a blob or manifest in repository A, asks for that digest through B. A cache that
 * answers "I have these bytes" serves A's content to someone the rules never let read A: a
 * cross-repository read. The gateway must answer as the registry behind would for B (404, since B
 * does not have it), and refuse a pull through A itself as the rules say, however warm the cache.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startDistribution, type RunningDistribution } from '../helpers/distribution.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { startGate, basic, type TestGate } from '../helpers/gate.js';
import { RegistryClient, assertError, randomBlob } from '../helpers/registry-client.js';

const OWNER = { user: 'alice', password: 'alice-secret-1' };
const OUTSIDER = { user: 'mallory', password: 'mallory-secret-2' };

describe('a digest cached for one repository is not readable through another', () => {
  let dir: string;
  let registry: RunningDistribution;
  let gate: TestGate;
  let owner: RegistryClient;
  let outsider: RegistryClient;

  before(async () => {
    dir = await makeTempDir('rg-cache-xrepo-');
    registry = await startDistribution({ dir: join(dir, 'distribution') });
    gate = await startGate({
      dir,
      users: { [OWNER.user]: OWNER.password, [OUTSIDER.user]: OUTSIDER.password },
      config: {
        upstream: { url: registry.url, cache: true },
        access: [
          { repository: 'team-a/**', actions: ['pull', 'push'], subjects: [`user:${OWNER.user}`] },
          { repository: 'team-b/**', actions: ['pull', 'push'], subjects: [`user:${OWNER.user}`, `user:${OUTSIDER.user}`] },
        ],
      },
    });
    owner = new RegistryClient(() => ({ baseUrl: gate.url, authHeader: basic(OWNER.user, OWNER.password) }));
    outsider = new RegistryClient(() => ({ baseUrl: gate.url, authHeader: basic(OUTSIDER.user, OUTSIDER.password) }));
  });

  after(async () => {
    await gate.stop();
    await registry.stop();
    await removeDir(dir);
  });

  test('a blob cached through team-a is 404 BLOB_UNKNOWN through team-b, and 403 through team-a, GET and HEAD', async () => {
    const secret = randomBlob(64 * 1024);
    const digest = await owner.pushBlob('team-a/private', secret);
    await owner.pushImage('team-b/public', 'latest'); // team-b/public exists upstream, without the secret
    const warm = await owner.call('GET', `/v2/team-a/private/blobs/${digest}`);
    assert.ok(warm.body.equals(secret), 'the blob is cached now');

    for (const method of ['GET', 'HEAD']) {
      const through = await outsider.call(method, `/v2/team-b/public/blobs/${digest}`);
      assertError(through, 404, 'BLOB_UNKNOWN', method);
      assert.ok(!through.body.includes(secret.subarray(0, 32)));
      const direct = await outsider.call(method, `/v2/team-a/private/blobs/${digest}`);
      assertError(direct, [401, 403], ['DENIED', 'UNAUTHORIZED'], method);
    }
  });

  test('a manifest cached through team-a is 404 MANIFEST_UNKNOWN through team-b', async () => {
    const image = await owner.pushImage('team-a/private', 'v1');
    assert.equal((await owner.call('GET', `/v2/team-a/private/manifests/${image.digest}`)).status, 200);
    for (const method of ['GET', 'HEAD']) {
      assertError(await outsider.call(method, `/v2/team-b/public/manifests/${image.digest}`), 404, 'MANIFEST_UNKNOWN', method);
      assertError(await outsider.call(method, `/v2/team-b/public/blobs/${image.blobs[0] as string}`), 404, 'BLOB_UNKNOWN', method);
    }
  });
});
