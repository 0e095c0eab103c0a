/**
 * The content cache in front of a real Distribution (`upstream.cache: true`), with the fault proxy
 * between the two counting what reaches the upstream and breaking answers on request: bytes are
 * verified as they arrive and stored only on a match, one fetch per digest, ranges and HEADs from
 * disk, tags resolved upstream, deletes forgotten, skopeo pulls cold and warm.
 */
import { describe, test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readdir } from 'node:fs/promises';
import { request } from 'undici';
import { startDistribution, type RunningDistribution } from '../helpers/distribution.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { startGate, basic, type TestGate } from '../helpers/gate.js';
import { RegistryClient, randomBlob, sha256, OCI_MANIFEST, type Reply } from '../helpers/registry-client.js';
import { skopeoCopy, dockerRef } from '../helpers/skopeo.js';
import { readOciLayoutDigests } from '../helpers/oci-image.js';

const ALICE = { user: 'alice', password: 'alice-secret-1' };

async function metric(gate: TestGate, name: string): Promise<number> {
  const url = gate.gate.metricsUrl;
  assert.ok(url, 'metrics are on');
  const text = await (await request(url)).body.text();
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `));
  return line ? Number(line.slice(name.length + 1)) : 0;
}

async function cachedFiles(dir: string, kind: 'blobs' | 'manifests'): Promise<string[]> {
  return readdir(join(dir, kind, 'sha256')).catch(() => []);
}

describe('content cache in front of Distribution', () => {
  let dir: string;
  let cacheDir: string;
  let registry: RunningDistribution;
  let proxy: FaultProxy;
  let gate: TestGate;
  let client: RegistryClient;
  let direct: RegistryClient;

  before(async () => {
    dir = await makeTempDir('rg-cache-');
    cacheDir = join(dir, 'cache');
    registry = await startDistribution({ dir: join(dir, 'distribution') });
    proxy = await startFaultProxy(registry.url);
    gate = await startGate({
      dir,
      users: { [ALICE.user]: ALICE.password },
      config: {
        upstream: { url: proxy.url, cache: true },
        cache: { dir: cacheDir, maxSize: '1GiB' },
        metrics: { listen: '127.0.0.1:0' },
        access: [{ repository: '**', actions: ['pull', 'push', 'delete'], subjects: ['authenticated'] }],
      },
    });
    client = new RegistryClient(() => ({ baseUrl: gate.url, authHeader: basic(ALICE.user, ALICE.password) }));
    direct = new RegistryClient(() => ({ baseUrl: registry.url }));
  });

  after(async () => {
    await gate.stop();
    await proxy.stop();
    await registry.stop();
    await removeDir(dir);
  });

  beforeEach(() => proxy.clearFaults());

  test('a blob is fetched once, then answered from disk: whole, ranged, HEAD, If-None-Match', async () => {
    const blob = randomBlob(3 * 1024 * 1024 + 17);
    const digest = await client.pushBlob('cache/app', blob);
    const path = `/v2/cache/app/blobs/${digest}`;
    const hitsBefore = await metric(gate, 'registry_gate_cache_requests_total{kind="blobs",result="hit"}');

    const cold = await client.call('GET', path);
    assert.equal(cold.status, 200);
    assert.ok(cold.body.equals(blob));
    assert.equal(cold.headers['docker-content-digest'], digest);
    assert.ok((await cachedFiles(cacheDir, 'blobs')).includes(digest.slice('sha256:'.length)));

    const warm = await client.call('GET', path);
    assert.ok(warm.body.equals(blob));
    const ranged = await client.call('GET', path, { headers: { range: 'bytes=1000-1999999' } });
    assert.equal(ranged.status, 206);
    assert.equal(ranged.headers['content-range'], `bytes 1000-1999999/${blob.length}`);
    assert.ok(ranged.body.equals(blob.subarray(1000, 2_000_000)));
    const head = await client.call('HEAD', path);
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], String(blob.length));
    const unchanged = await client.call('GET', path, { headers: { 'if-none-match': `"${digest}"` } });
    assert.equal(unchanged.status, 304);

    assert.equal(proxy.count('GET', digest), 1, 'one GET upstream for the digest');
    assert.equal(proxy.count('HEAD', digest), 0, 'the GET that filled told which repository has it');
    assert.equal((await metric(gate, 'registry_gate_cache_requests_total{kind="blobs",result="hit"}')) - hitsBefore, 4);
    assert.ok((await metric(gate, 'registry_gate_cache_upstream_bytes_total')) >= blob.length);
    assert.ok((await metric(gate, 'registry_gate_cache_size_bytes')) >= blob.length);
  });

  test('eight concurrent requests for one uncached blob fetch it once, and all get its bytes', async () => {
    const blob = randomBlob(8 * 1024 * 1024);
    const digest = await client.pushBlob('cache/app', blob);
    const replies = await Promise.all(Array.from({ length: 8 }, () => client.call('GET', `/v2/cache/app/blobs/${digest}`)));
    for (const reply of replies) {
      assert.equal(reply.status, 200);
      assert.equal(sha256(reply.body), digest);
    }
    assert.equal(proxy.count('GET', digest), 1);
  });

  test('bytes that do not match their digest are never served nor stored, and are counted', async () => {
    const blob = randomBlob(2 * 1024 * 1024);
    const digest = await client.pushBlob('cache/app', blob);
    proxy.setFault(digest, 'wrong-bytes');
    const mismatchesBefore = await metric(gate, 'registry_gate_cache_digest_mismatches_total');
    const first = await client.call('GET', `/v2/cache/app/blobs/${digest}`).then(
      (reply): Reply | undefined => reply,
      () => undefined, // the connection was cut: what a client must see
    );
    assert.ok(first === undefined || first.status !== 200 || first.body.length < blob.length, 'a cut body, never the whole wrong one');
    assert.equal(await metric(gate, 'registry_gate_cache_digest_mismatches_total'), mismatchesBefore + 1);
    assert.ok(!(await cachedFiles(cacheDir, 'blobs')).includes(digest.slice('sha256:'.length)));
    assert.deepEqual(await readdir(join(cacheDir, 'tmp')), [], 'no temp file left');

    proxy.clearFaults();
    const healed = await client.call('GET', `/v2/cache/app/blobs/${digest}`);
    assert.equal(healed.status, 200);
    assert.ok(healed.body.equals(blob));
  });

  test('a body cut halfway is not stored; the client sees a cut connection, the next pull works', async () => {
    const blob = randomBlob(2 * 1024 * 1024);
    const digest = await client.pushBlob('cache/app', blob);
    proxy.setFault(digest, 'cut-half');
    const cut = await client.call('GET', `/v2/cache/app/blobs/${digest}`).then(
      (reply) => reply,
      () => undefined,
    );
    assert.ok(cut === undefined || cut.status !== 200 || cut.body.length < blob.length, 'never a complete 200');
    assert.ok(!(await cachedFiles(cacheDir, 'blobs')).includes(digest.slice('sha256:'.length)));
    assert.deepEqual(await readdir(join(cacheDir, 'tmp')), []);
    proxy.clearFaults();
    assert.ok((await client.call('GET', `/v2/cache/app/blobs/${digest}`)).body.equals(blob));
  });

  test('an upstream answering 503, or refusing, is an error to the client, never cached content', async () => {
    const blob = randomBlob(4096);
    const digest = await client.pushBlob('cache/app', blob);
    proxy.setFault(digest, '503');
    assert.equal((await client.call('GET', `/v2/cache/app/blobs/${digest}`)).status, 503);
    proxy.clearFaults();
    proxy.setFault(digest, 'refuse');
    assert.ok([502, 503].includes((await client.call('GET', `/v2/cache/app/blobs/${digest}`)).status));
    proxy.clearFaults();
    assert.ok((await client.call('GET', `/v2/cache/app/blobs/${digest}`)).body.equals(blob));
  });

  test('manifests: by digest from disk; by tag resolved upstream each time (tagTtl 0), so a tag moved behind the gateway is seen', async () => {
    const first = await client.pushImage('cache/tagged', 'v1');
    const byTag = await client.call('GET', '/v2/cache/tagged/manifests/v1');
    assert.equal(byTag.status, 200);
    assert.equal(byTag.headers['docker-content-digest'], first.digest);
    assert.equal(byTag.headers['content-type'], OCI_MANIFEST);
    assert.ok(byTag.body.equals(first.manifest));
    const getsBefore = proxy.count('GET', first.digest);
    const byDigest = await client.call('GET', `/v2/cache/tagged/manifests/${first.digest}`);
    assert.ok(byDigest.body.equals(first.manifest));
    const head = await client.call('HEAD', `/v2/cache/tagged/manifests/${first.digest}`);
    assert.equal(head.status, 200);
    assert.equal(proxy.count('GET', first.digest), getsBefore, 'answered from disk');

    // Moved at the upstream directly, not through the gateway.
    const second = await direct.pushImage('cache/tagged', 'v1');
    const moved = await client.call('GET', '/v2/cache/tagged/manifests/v1');
    assert.equal(moved.headers['docker-content-digest'], second.digest);
    assert.ok(moved.body.equals(second.manifest));
  });

  test('with tagTtl, a tag is answered without asking the upstream, until a push through the gateway moves it', async () => {
    const tagged = await startGate({
      dir: join(dir, 'tag-ttl'),
      users: { [ALICE.user]: ALICE.password },
      config: {
        upstream: { url: proxy.url, cache: true },
        cache: { dir: join(dir, 'tag-ttl-cache'), tagTtl: '1h' },
        access: [{ repository: '**', actions: ['pull', 'push'], subjects: ['authenticated'] }],
      },
    });
    try {
      const through = new RegistryClient(() => ({ baseUrl: tagged.url, authHeader: basic(ALICE.user, ALICE.password) }));
      const first = await through.pushImage('cache/ttl', 'v1');
      assert.equal((await through.call('GET', '/v2/cache/ttl/manifests/v1')).headers['docker-content-digest'], first.digest);
      const asked = proxy.count('HEAD', '/v2/cache/ttl/manifests/v1');
      assert.equal((await through.call('GET', '/v2/cache/ttl/manifests/v1')).headers['docker-content-digest'], first.digest);
      assert.equal(proxy.count('HEAD', '/v2/cache/ttl/manifests/v1'), asked, 'the tag was not asked again within tagTtl');

      const behind = await direct.pushImage('cache/ttl', 'v1'); // moved at the upstream: not seen within tagTtl
      assert.equal((await through.call('GET', '/v2/cache/ttl/manifests/v1')).headers['docker-content-digest'], first.digest);
      const moved = await through.pushImage('cache/ttl', 'v1'); // moved through the gateway: seen at once
      assert.notEqual(moved.digest, behind.digest);
      const now = await through.call('GET', '/v2/cache/ttl/manifests/v1');
      assert.equal(now.headers['docker-content-digest'], moved.digest);
      assert.ok(now.body.equals(moved.manifest));
    } finally {
      await tagged.stop();
    }
  });

  test('a delete through the gateway ends what it deleted, though the bytes stay cached', async () => {
    const image = await client.pushImage('cache/deleted', 'v1');
    assert.equal((await client.call('GET', `/v2/cache/deleted/manifests/${image.digest}`)).status, 200);
    const layer = image.blobs[1] as string;
    assert.equal((await client.call('GET', `/v2/cache/deleted/blobs/${layer}`)).status, 200);

    assert.equal((await client.call('DELETE', `/v2/cache/deleted/manifests/${image.digest}`)).status, 202);
    const manifest = await client.call('GET', `/v2/cache/deleted/manifests/${image.digest}`);
    assert.equal(manifest.status, 404);
    assert.equal((await client.call('GET', '/v2/cache/deleted/manifests/v1')).status, 404);

    assert.equal((await client.call('DELETE', `/v2/cache/deleted/blobs/${layer}`)).status, 202);
    const blob = await client.call('GET', `/v2/cache/deleted/blobs/${layer}`);
    assert.equal(blob.status, 404);
    assert.equal(blob.json<{ errors: { code: string }[] }>().errors[0]?.code, 'BLOB_UNKNOWN');
  });

  test('skopeo pulls an image cold and warm through the cache with identical digests', async () => {
    const image = await client.pushImage('cache/skopeo', 'latest', { layers: 3 });
    for (const round of ['cold', 'warm']) {
      const out = join(dir, `pulled-${round}`);
      const pulled = await skopeoCopy({
        from: dockerRef(gate.host, 'cache/skopeo', 'latest'),
        to: `oci:${out}:latest`,
        src: { creds: ALICE, tlsVerify: false },
        preserveDigests: true,
      });
      assert.equal(pulled.code, 0, pulled.stderr);
      assert.equal((await readOciLayoutDigests(out, 'latest')).manifestDigest, image.digest);
    }
    for (const blob of image.blobs) assert.equal(proxy.count('GET', blob), 1, `one upstream GET for ${blob}`);
  });
});
