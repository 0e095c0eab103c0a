/**
 * The attack: a blob larger than `cache.maxSize`, answered by the upstream without a Content-Length
 * (chunked: a proxy in between, a registry that streams). The size check before a fill only looked
 * at the declared length, so such a body was written to the cache's disk in full, however large,
 * then committed over `maxSize`, which evicted everything else cached (a pull of one big layer
 * empties the cache for everyone) and, as nothing read the new file, the file itself. A fill must
 * never write more than `maxSize`: content whose size the upstream does not declare is forwarded
 * uncached, and no fill goes past its declared size or the cache's size.
 *
 * The same through width: requests at once for several different blobs, each within `maxSize`,
 * started as many fills, so `tmp/` held their sum. The fills in progress now share `maxSize`
 * between them; content that does not fit beside them is forwarded uncached.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readdir } from 'node:fs/promises';
import { get, type IncomingMessage } from 'node:http';
import { waitFor } from '../helpers/wait.js';
import { request } from 'undici';
import { startDistribution, type RunningDistribution } from '../helpers/distribution.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { startGate, basic, type TestGate } from '../helpers/gate.js';
import { RegistryClient, randomBlob } from '../helpers/registry-client.js';

const ALICE = { user: 'alice', password: 'alice-secret-1' };
const MAX_SIZE = 8 * 1024 * 1024;

async function fetchedBytes(gate: TestGate): Promise<number> {
  const url = gate.gate.metricsUrl;
  assert.ok(url, 'metrics are on');
  const text = await (await request(url)).body.text();
  const name = 'registry_gate_cache_upstream_bytes_total';
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `));
  return line ? Number(line.slice(name.length + 1)) : 0;
}

describe('a fill never writes more than cache.maxSize', () => {
  let dir: string;
  let cacheDir: string;
  let registry: RunningDistribution;
  let proxy: FaultProxy;
  let gate: TestGate;
  let client: RegistryClient;

  before(async () => {
    dir = await makeTempDir('rg-cache-max-');
    cacheDir = join(dir, 'cache');
    registry = await startDistribution({ dir: join(dir, 'distribution') });
    proxy = await startFaultProxy(registry.url);
    gate = await startGate({
      dir,
      users: { [ALICE.user]: ALICE.password },
      config: {
        upstream: { url: proxy.url, cache: true },
        cache: { dir: cacheDir, maxSize: MAX_SIZE },
        metrics: { listen: '127.0.0.1:0' },
        access: [{ repository: '**', actions: ['pull', 'push'], subjects: ['authenticated'] }],
      },
    });
    client = new RegistryClient(() => ({ baseUrl: gate.url, authHeader: basic(ALICE.user, ALICE.password) }));
  });

  after(async () => {
    await gate.stop();
    await proxy.stop();
    await registry.stop();
    await removeDir(dir);
  });

  test('a blob of undeclared size larger than maxSize is served whole, not written to the cache, and evicts nothing', async () => {
    const small = randomBlob(10 * 1024);
    const smallDigest = await client.pushBlob('cache/small', small);
    assert.equal((await client.call('GET', `/v2/cache/small/blobs/${smallDigest}`)).status, 200);
    const cachedBefore = await readdir(join(cacheDir, 'blobs', 'sha256'));
    assert.ok(cachedBefore.includes(smallDigest.slice('sha256:'.length)), 'the small blob is cached');

    const big = randomBlob(3 * MAX_SIZE + 5);
    const bigDigest = await client.pushBlob('cache/big', big);
    proxy.setFault(bigDigest, 'chunked');
    const fetchedBefore = await fetchedBytes(gate);
    const reply = await client.call('GET', `/v2/cache/big/blobs/${bigDigest}`);
    assert.equal(reply.status, 200);
    assert.ok(reply.body.equals(big), 'the client gets the whole blob');

    assert.ok((await fetchedBytes(gate)) - fetchedBefore <= MAX_SIZE, 'no more than maxSize was written to the cache');
    const cachedAfter = await readdir(join(cacheDir, 'blobs', 'sha256'));
    assert.ok(cachedAfter.includes(smallDigest.slice('sha256:'.length)), 'what was cached is still cached');
    assert.deepEqual(await readdir(join(cacheDir, 'tmp')), [], 'no fill left behind');
  });

  test('fills in progress at once never hold more than maxSize between them', async () => {
    const first = randomBlob(6 * 1024 * 1024);
    const second = randomBlob(6 * 1024 * 1024 + 1);
    const firstDigest = await client.pushBlob('cache/wide-a', first);
    const secondDigest = await client.pushBlob('cache/wide-b', second);
    // A client that does not read keeps the first fill in progress (it reads along, one chunk behind).
    const stalled = await new Promise<IncomingMessage>((resolve, reject) => {
      const url = new URL(`/v2/cache/wide-a/blobs/${firstDigest}`, gate.url);
      get(url, { headers: { authorization: basic(ALICE.user, ALICE.password) } }, resolve).on('error', reject);
    });
    stalled.pause();
    try {
      assert.equal(stalled.statusCode, 200);
      await waitFor('the first fill is in progress', async () => (await readdir(join(cacheDir, 'tmp'))).length === 1);
      const reply = await client.call('GET', `/v2/cache/wide-b/blobs/${secondDigest}`);
      assert.ok(reply.body.equals(second), 'the second client gets its blob');
      assert.equal((await readdir(join(cacheDir, 'tmp'))).length, 1, 'the first fill was still in progress');
      const cached = await readdir(join(cacheDir, 'blobs', 'sha256'));
      assert.ok(!cached.includes(secondDigest.slice('sha256:'.length)), 'no second fill beside one that holds the room');
    } finally {
      stalled.destroy();
    }
  });
});
