/**
 * `registry-gate cache show|purge`, run as users run it (its own process, from a config file) on
 * the cache of a running gateway in front of a real Distribution, with the fault proxy between
 * them counting what reaches the upstream: the numbers shown are those of the folder, a purged
 * digest is fetched again, a purged repository is asked about again, and a pull that is reading
 * a file while it is purged completes with the right bytes. Then the cache's metrics an operator
 * watches (size, hits, misses, bytes from the upstream, evictions) against what happened.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { access, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { startDistribution, type RunningDistribution } from '../helpers/distribution.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { CLI } from '../helpers/gate-process.js';
import { startGate, basic, type TestGate } from '../helpers/gate.js';
import { makeTempDir, removeDir, runProcess, type RunResult } from '../helpers/process.js';
import { RegistryClient, randomBlob, sha256, MANIFEST_ACCEPT } from '../helpers/registry-client.js';
import { within } from '../helpers/wait.js';

const ALICE = { user: 'alice', password: 'alice-secret-1' };
const MAX_SIZE = 1024 ** 3;

interface ShownUsage {
  dir: string;
  maxBytes: number;
  bytes: number;
  blobs: number;
  manifests: number;
  repositories: number;
  fillsInProgress: number;
}

async function metricValues(gate: TestGate): Promise<Map<string, number>> {
  const url = gate.gate.metricsUrl;
  assert.ok(url, 'metrics are on');
  const values = new Map<string, number>();
  for (const line of (await (await request(url)).body.text()).split('\n')) {
    const match = /^(registry_gate_cache_\S+) (\S+)$/.exec(line);
    if (match?.[1] !== undefined) values.set(match[1], Number(match[2]));
  }
  return values;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

describe('registry-gate cache show and purge, beside a running gateway', () => {
  let dir: string;
  let cacheDir: string;
  let configFile: string;
  let registry: RunningDistribution;
  let proxy: FaultProxy;
  let gate: TestGate;
  let client: RegistryClient;

  const cache = (...args: string[]): Promise<RunResult> =>
    runProcess(process.execPath, [CLI, 'cache', ...args, '--config', configFile], { timeoutMs: 30_000 });
  const blobFile = (digest: string) => join(cacheDir, 'blobs', 'sha256', digest.slice('sha256:'.length));
  const pullBlob = (repository: string, digest: string) => client.call('GET', `/v2/${repository}/blobs/${digest}`);

  async function show(): Promise<ShownUsage> {
    const result = await cache('show', '--json');
    assert.equal(result.code, 0, result.stderr);
    return JSON.parse(result.stdout) as ShownUsage;
  }

  before(async () => {
    dir = await makeTempDir('rg-cache-cli-');
    cacheDir = join(dir, 'cache');
    registry = await startDistribution({ dir: join(dir, 'distribution') });
    proxy = await startFaultProxy(registry.url);
    const config = {
      upstream: { url: proxy.url, cache: true },
      cache: { dir: cacheDir, maxSize: MAX_SIZE },
      // The same registry again as a mirror: what it said is kept under the mirror, apart from the upstream's.
      mirrors: [{ repository: 'mirror/**', url: proxy.url, stripPrefix: 'mirror/' }],
      metrics: { listen: '127.0.0.1:0' },
      access: [{ repository: '**', actions: ['pull', 'push', 'delete'], subjects: ['authenticated'] }],
    };
    gate = await startGate({ dir, users: { [ALICE.user]: ALICE.password }, config });
    // The command reads the same file a server would start from (its listen address is unused here).
    configFile = join(dir, 'gate.yaml');
    const fileConfig = { ...config, listen: '127.0.0.1:0', tls: 'off', dataDir: join(dir, 'data'), auth: { htpasswd: gate.htpasswdFile } };
    await writeFile(configFile, JSON.stringify(fileConfig, null, 2));
    client = new RegistryClient(() => ({ baseUrl: gate.url, authHeader: basic(ALICE.user, ALICE.password) }));
  });

  after(async () => {
    await gate.stop();
    await proxy.stop();
    await registry.stop();
    await removeDir(dir);
  });

  test('show counts the bytes, blobs, manifests and repositories of the folder', async () => {
    const empty = await show();
    assert.deepEqual(
      { bytes: empty.bytes, blobs: empty.blobs, manifests: empty.manifests, repositories: empty.repositories },
      { bytes: 0, blobs: 0, manifests: 0, repositories: 0 },
    );
    assert.equal(empty.maxBytes, MAX_SIZE);
    assert.equal(empty.dir, cacheDir);

    const image = await client.pushImage('show/one', 'v1', { layers: 2 });
    const shared = randomBlob(300_000);
    const sharedDigest = await client.pushBlob('show/one', shared);
    await client.pushBlob('show/two', shared);
    const manifest = await client.call('GET', `/v2/show/one/manifests/${image.digest}`, { headers: { accept: MANIFEST_ACCEPT } });
    assert.equal(manifest.status, 200);
    let blobBytes = 0;
    for (const digest of [...image.blobs, sharedDigest]) {
      const reply = await pullBlob('show/one', digest);
      assert.equal(reply.status, 200);
      blobBytes += reply.body.length;
    }
    assert.equal((await pullBlob('show/two', sharedDigest)).status, 200);

    const usage = await show();
    // A cached manifest is its media type, a newline, then its bytes (src/backend/cache/content-store.ts).
    const manifestBytes = Buffer.byteLength(`${image.mediaType}\n`) + image.manifest.length;
    assert.equal(usage.blobs, image.blobs.length + 1);
    assert.equal(usage.manifests, 1);
    assert.equal(usage.bytes, blobBytes + manifestBytes);
    assert.equal(usage.repositories, 2, 'show/one and show/two');
    assert.equal(usage.fillsInProgress, 0);

    const text = await cache('show');
    assert.equal(text.code, 0, text.stderr);
    assert.ok(text.stdout.includes(`used:         ${usage.bytes} of ${MAX_SIZE} bytes`), text.stdout);
    assert.match(text.stdout, /blobs: +4\n/);
    assert.match(text.stdout, /repositories: +2 /);
  });

  test('purge --digest: the bytes are gone and the next pull fetches them from the upstream again', async () => {
    const blob = randomBlob(512 * 1024 + 3);
    const digest = await client.pushBlob('purge/digest', blob);
    assert.equal((await pullBlob('purge/digest', digest)).status, 200);
    assert.equal((await pullBlob('purge/digest', digest)).status, 200);
    assert.equal(proxy.count('GET', digest), 1, 'the second pull was a hit');
    const before = await show();

    const purged = await cache('purge', '--digest', digest);
    assert.equal(purged.code, 0, purged.stderr);
    assert.match(purged.stdout, new RegExp(`purged ${digest}: 1 file\\(s\\), ${blob.length} bytes removed, 1 repository marker`));
    assert.equal(await exists(blobFile(digest)), false);
    assert.equal((await show()).bytes, before.bytes - blob.length);

    const again = await pullBlob('purge/digest', digest);
    assert.equal(again.status, 200);
    assert.equal(sha256(again.body), digest);
    assert.equal(proxy.count('GET', digest), 2, 'fetched from the upstream again');
    assert.equal(await exists(blobFile(digest)), true, 'and cached again');
  });

  test('purge --repository: its markers end, its own bytes go, bytes another repository has stay', async () => {
    const shared = randomBlob(200_000);
    const own = randomBlob(100_000);
    const sharedDigest = await client.pushBlob('purge/repo-a', shared);
    await client.pushBlob('purge/repo-b', shared);
    const ownDigest = await client.pushBlob('purge/repo-a', own);
    for (const [repository, digest] of [
      ['purge/repo-a', sharedDigest],
      ['purge/repo-b', sharedDigest],
      ['purge/repo-a', ownDigest],
    ] as const) {
      assert.equal((await pullBlob(repository, digest)).status, 200);
    }
    const askedBefore = proxy.count('HEAD', `/v2/purge/repo-a/blobs/${sharedDigest}`);

    const purged = await cache('purge', '--repository', 'purge/repo-a');
    assert.equal(purged.code, 0, purged.stderr);
    assert.match(purged.stdout, /purged repository purge\/repo-a: 1 file\(s\), 100000 bytes removed, 2 repository marker\(s\) ended/);
    assert.equal(await exists(blobFile(ownDigest)), false, 'nothing else had it');
    assert.equal(await exists(blobFile(sharedDigest)), true, 'purge/repo-b still has it');

    // purge/repo-b reads the shared blob from disk without asking; purge/repo-a must ask again.
    const requestsBefore = proxy.requests.length;
    assert.equal((await pullBlob('purge/repo-b', sharedDigest)).status, 200);
    assert.equal(proxy.requests.length, requestsBefore, 'purge/repo-b: a hit, nothing asked upstream');
    const again = await pullBlob('purge/repo-a', sharedDigest);
    assert.equal(again.status, 200);
    assert.ok(again.body.equals(shared));
    assert.equal(proxy.count('HEAD', `/v2/purge/repo-a/blobs/${sharedDigest}`), askedBefore + 1, 'purge/repo-a asked again');
    assert.equal(proxy.count('GET', ownDigest), 1);
    assert.ok((await pullBlob('purge/repo-a', ownDigest)).body.equals(own));
    assert.equal(proxy.count('GET', ownDigest), 2, 'its own blob fetched again');
  });

  test("purge --repository takes a mirror's name as clients use it and ends what that mirror said", async () => {
    const blob = randomBlob(150_000);
    const digest = await client.pushBlob('purge/mirrored', blob);
    assert.equal((await pullBlob('mirror/purge/mirrored', digest)).status, 200);
    assert.equal(proxy.count('GET', digest), 1);
    assert.equal(await exists(blobFile(digest)), true);

    const purged = await cache('purge', '--repository', 'mirror/purge/mirrored');
    assert.equal(purged.code, 0, purged.stderr);
    assert.match(
      purged.stdout,
      /purged repository mirror\/purge\/mirrored: 1 file\(s\), 150000 bytes removed, 1 repository marker\(s\) ended/,
    );
    assert.equal(await exists(blobFile(digest)), false);
    const again = await pullBlob('mirror/purge/mirrored', digest);
    assert.ok(again.body.equals(blob));
    assert.equal(proxy.count('GET', digest), 2, 'fetched from the mirrored registry again');
  });

  test('a pull reading a blob while it is purged completes with the right bytes', async () => {
    const blob = randomBlob(64 * 1024 * 1024);
    const digest = await client.pushBlob('purge/reading', blob);
    assert.equal((await pullBlob('purge/reading', digest)).status, 200);
    assert.equal(proxy.count('GET', digest), 1);

    const response = await request(`${gate.url}/v2/purge/reading/blobs/${digest}`, {
      headers: { authorization: basic(ALICE.user, ALICE.password) },
    });
    assert.equal(response.statusCode, 200);
    const hash = createHash('sha256');
    let received = 0;
    let purgedMidway = false;
    await within(
      60_000,
      'the pull reading through a purge',
      (async () => {
        for await (const chunk of response.body as AsyncIterable<Buffer>) {
          hash.update(chunk);
          received += chunk.length;
          if (purgedMidway) continue;
          // Reading is paused here: the gateway can have sent no more than the sockets' buffers.
          const purged = await cache('purge', '--digest', digest);
          assert.equal(purged.code, 0, purged.stderr);
          assert.equal(await exists(blobFile(digest)), false);
          assert.ok(received < blob.length / 2, `purged while the pull had ${received} bytes`);
          purgedMidway = true;
        }
      })(),
    );
    assert.ok(purgedMidway);
    assert.equal(received, blob.length);
    assert.equal(`sha256:${hash.digest('hex')}`, digest);
    assert.equal(proxy.count('GET', digest), 1, 'the pull was read from the cache to its end');
  });

  test('usage mistakes exit with status 2 and say what is wrong', async () => {
    const cases: [string[], RegExp][] = [
      [['purge', '--digest', 'sha256:XYZ'], /registry-gate: not a sha256 or sha512 digest "sha256:XYZ"/],
      [['purge', '--digest', `sha256:${'0'.repeat(64)}`], new RegExp(`sha256:${'0'.repeat(64)} is not in the cache ${cacheDir}`)],
      [['purge', '--repository', 'Not/A/Name'], /registry-gate: not a repository name "Not\/A\/Name"/],
      [['purge', '--repository', 'never/cached'], /nothing of repository never\/cached is known to the cache/],
      [['purge'], /cache purge takes one of --digest or --repository/],
      [['purge', '--digest', `sha256:${'0'.repeat(64)}`, '--repository', 'a/b'], /cache purge takes one of --digest or --repository/],
    ];
    for (const [args, message] of cases) {
      const result = await cache(...args);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message);
      assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
    }
  });
});

describe('the content cache in /metrics: size, hits, misses, bytes from the upstream, evictions', () => {
  const BLOB = 400_000;
  let dir: string;
  let registry: RunningDistribution;
  let gate: TestGate;
  let client: RegistryClient;

  before(async () => {
    dir = await makeTempDir('rg-cache-metrics-');
    registry = await startDistribution({ dir: join(dir, 'distribution') });
    gate = await startGate({
      dir,
      users: { [ALICE.user]: ALICE.password },
      config: {
        upstream: { url: registry.url, cache: true },
        // Room for two of the blobs below, not three.
        cache: { dir: join(dir, 'cache'), maxSize: 2.5 * BLOB },
        metrics: { listen: '127.0.0.1:0' },
        access: [{ repository: '**', actions: ['pull', 'push'], subjects: ['authenticated'] }],
      },
    });
    client = new RegistryClient(() => ({ baseUrl: gate.url, authHeader: basic(ALICE.user, ALICE.password) }));
  });

  after(async () => {
    await gate.stop();
    await registry.stop();
    await removeDir(dir);
  });

  test('each count follows what the pulls did, and the least recently used blob is evicted and counted', async () => {
    const blobs = [randomBlob(BLOB), randomBlob(BLOB), randomBlob(BLOB)];
    const digests: string[] = [];
    for (const blob of blobs) digests.push(await client.pushBlob('metrics/app', blob));
    const [first, second, third] = digests as [string, string, string];
    const pull = async (digest: string) => assert.equal((await client.call('GET', `/v2/metrics/app/blobs/${digest}`)).status, 200);

    await pull(first);
    await pull(second);
    await pull(second);
    await pull(third); // past maxSize: the first, used least recently, goes
    const values = await metricValues(gate);
    const value = (name: string) => values.get(name) ?? Number.NaN;
    assert.equal(value('registry_gate_cache_requests_total{kind="blobs",result="miss"}'), 3);
    assert.equal(value('registry_gate_cache_requests_total{kind="blobs",result="hit"}'), 1);
    assert.equal(value('registry_gate_cache_upstream_bytes_total'), 3 * BLOB);
    assert.equal(value('registry_gate_cache_evictions_total'), 1);
    assert.equal(value('registry_gate_cache_evicted_bytes_total'), BLOB);
    assert.equal(value('registry_gate_cache_size_bytes'), 2 * BLOB);
    const cached = join(dir, 'cache', 'blobs', 'sha256');
    assert.equal(await exists(join(cached, first.slice('sha256:'.length))), false, 'the least recently used blob was evicted');
    assert.equal(await exists(join(cached, second.slice('sha256:'.length))), true);
  });
});
