/**
 * Storage that never lies, even when the process dies: registry-gate on its built-in registry runs
 * as the real CLI (`serve --config`) in a child process that is killed with SIGKILL in the middle of blob uploads and manifest pushes, then
 * restarted on the same storage. Afterwards everything visible must verify (every blob file hashes
 * to its name, every tag and manifest resolves to bytes matching its digest), everything that was
 * acknowledged (201) must be there, and an upload interrupted mid-chunk must resume from its last
 * acknowledged byte.
 */
import assert from 'node:assert/strict';
import { createHash, randomInt } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { startConfiguredGateProcess, type ConfiguredGateProcess } from '../helpers/gate-process.js';
import { basic } from '../helpers/gate.js';
import { randomBlob, RegistryClient, sha256 } from '../helpers/registry-client.js';
import { waitFor } from '../helpers/wait.js';

const PUSHER = { user: 'crash', password: 'crash-test-pw' };

let dir: string;
/** The built-in registry's storage, kept across the restarts. */
let root: string;
let running: ConfiguredGateProcess | undefined;
let baseUrl = '';
const client = new RegistryClient(() => ({ baseUrl, authHeader: basic(PUSHER.user, PUSHER.password) }));

async function startServer(): Promise<void> {
  running = await startConfiguredGateProcess({
    dir,
    users: { [PUSHER.user]: PUSHER.password },
    config: {
      tls: 'off',
      dataDir: join(dir, 'data'),
      storage: { root },
      auth: { htpasswd: join(dir, 'htpasswd') },
      access: [{ repository: '**', actions: ['pull', 'push', 'delete'], subjects: ['authenticated'] }],
      audit: { enabled: false },
      log: { level: 'warn', access: false },
    },
  });
  baseUrl = running.url;
}

async function killServer(): Promise<void> {
  const child = running?.child;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/** A body that sends its first `sentBefore` bytes, then waits for `killed`: the server dies while it is still arriving. */
function trickle(data: Buffer, pieceSize: number, sentBefore: number, killed: Promise<void>): Readable {
  return Readable.from(
    (async function* () {
      for (let at = 0; at < Math.min(sentBefore, data.length); at += pieceSize) yield data.subarray(at, at + pieceSize);
      await killed;
      yield data.subarray(sentBefore, sentBefore + pieceSize); // the rest never arrives
    })(),
  );
}

before(async () => {
  dir = await makeTempDir('registry-gate-crash-');
  root = join(dir, 'registry');
  await startServer();
});

after(async () => {
  await running?.stop();
  await removeDir(dir);
});

test('kill -9 during pushes leaves only verified content, keeps every acknowledged push, and uploads resume', async () => {
  // Acknowledged before any trouble.
  const acknowledgedTags = new Map<string, string>(); // repository:tag → manifest digest
  const acknowledgedBlobs = new Map<string, string>(); // digest → repository
  for (let i = 0; i < 3; i++) {
    const image = await client.pushImage('stable/app', `v${i}`, { layers: 2 });
    acknowledgedTags.set(`stable/app:v${i}`, image.digest);
  }

  // An upload with one acknowledged chunk, to resume after the restart.
  const pausedData = randomBlob(120_000);
  const pausedLocation = await client.startUpload('resume/paused');
  const firstChunk = await client.call('PATCH', pausedLocation, {
    body: pausedData.subarray(0, 50_000),
    headers: { 'content-range': '0-49999' },
  });
  assert.equal(firstChunk.status, 202);

  // Uploads whose second chunk is still streaming when the server dies.
  const streaming = await Promise.all(
    Array.from({ length: 3 }, async () => {
      const data = randomBlob(4_000_000); // its second chunk is still arriving at the kill
      const location = await client.startUpload('resume/streaming');
      const patch = await client.call('PATCH', location, { body: data.subarray(0, 10_000), headers: { 'content-range': '0-9999' } });
      assert.equal(patch.status, 202);
      return { data, location: RegistryClient.pathOf(patch.headers.location) };
    }),
  );

  // Chaos: streamed chunks, monolithic blob pushes and manifest pushes, all in flight at the kill.
  const chaos = { stop: false };
  let killed!: () => void;
  const whenKilled = new Promise<void>((resolve) => (killed = resolve));
  const inFlight: Promise<unknown>[] = streaming.map(({ data, location }, i) =>
    client.call('PATCH', location, { body: trickle(data.subarray(10_000), 8192, (i + 1) * 200_000, whenKilled) }).catch(() => undefined),
  );
  inFlight.push(
    (async () => {
      for (let i = 0; !chaos.stop; i++) {
        try {
          const image = await client.pushImage('chaos/images', `c${i}`);
          acknowledgedTags.set(`chaos/images:c${i}`, image.digest);
          const moved = await client.call('PUT', '/v2/chaos/images/manifests/moving', {
            headers: { 'content-type': image.mediaType },
            body: image.manifest,
          });
          if (moved.status !== 201) return;
        } catch {
          return;
        }
      }
    })(),
    (async () => {
      while (!chaos.stop) {
        const data = randomBlob(40_000 + Math.floor(Math.random() * 40_000));
        try {
          const digest = await client.pushBlob('chaos/blobs', data);
          acknowledgedBlobs.set(digest, 'chaos/blobs');
        } catch {
          return;
        }
      }
    })(),
  );
  // Kill once a few chaos pushes went through, at a varying point inside the ones that follow: after
  // zero to two more acknowledged blobs.
  await waitFor('five acknowledged chaos pushes', () => acknowledgedTags.size >= 5, { timeoutMs: 10_000, intervalMs: 5 });
  const blobsAtKill = acknowledgedBlobs.size + randomInt(3);
  await waitFor('more acknowledged blobs', () => acknowledgedBlobs.size >= blobsAtKill, { timeoutMs: 10_000, intervalMs: 1 });
  await killServer();
  killed();
  chaos.stop = true;
  await Promise.all(inFlight);
  assert.ok(acknowledgedTags.size > 3, 'some chaos pushes were acknowledged before the kill');

  await startServer();

  // 1. Every blob file on disk hashes to its name (no partial or corrupt blob is ever in place).
  for (const algorithm of await readdir(join(root, 'blobs'))) {
    for (const prefix of await readdir(join(root, 'blobs', algorithm))) {
      for (const hex of await readdir(join(root, 'blobs', algorithm, prefix))) {
        const bytes = await readFile(join(root, 'blobs', algorithm, prefix, hex));
        assert.equal(createHash(algorithm).update(bytes).digest('hex'), hex, `blob ${algorithm}:${hex}`);
      }
    }
  }

  // 2. Everything visible through the API resolves and verifies.
  const catalog = (await client.call('GET', '/v2/_catalog?n=1000')).json<{ repositories: string[] }>();
  for (const repository of catalog.repositories) {
    const tags = await client.call('GET', `/v2/${repository}/tags/list`);
    assert.equal(tags.status, 200);
    for (const tag of tags.json<{ tags: string[] }>().tags) {
      const manifest = await client.call('GET', `/v2/${repository}/manifests/${tag}`);
      assert.equal(manifest.status, 200, `${repository}:${tag}`);
      assert.equal(sha256(manifest.body), manifest.headers['docker-content-digest']);
      const parsed = manifest.json<{ config: { digest: string }; layers: { digest: string }[] }>();
      for (const { digest } of [parsed.config, ...parsed.layers]) {
        const blob = await client.call('GET', `/v2/${repository}/blobs/${digest}`);
        assert.equal(blob.status, 200, `${repository}:${tag} references ${digest}`);
        assert.equal(sha256(blob.body), digest);
      }
    }
  }

  // 3. Everything acknowledged is there.
  for (const [reference, digest] of acknowledgedTags) {
    const [repository, tag] = reference.split(':') as [string, string];
    const manifest = await client.call('GET', `/v2/${repository}/manifests/${tag}`);
    assert.equal(manifest.status, 200, reference);
    assert.equal(sha256(manifest.body), digest);
  }
  for (const [digest, repository] of acknowledgedBlobs) {
    const blob = await client.call('GET', `/v2/${repository}/blobs/${digest}`);
    assert.equal(blob.status, 200, digest);
    assert.equal(sha256(blob.body), digest);
  }

  // 4. Interrupted uploads resume from their last acknowledged byte.
  const pausedStatus = await client.call('GET', pausedLocation);
  assert.equal(pausedStatus.status, 204);
  assert.equal(pausedStatus.headers.range, '0-49999');
  const rest = await client.call(
    'PUT',
    RegistryClient.withQuery(RegistryClient.pathOf(pausedStatus.headers.location), { digest: sha256(pausedData) }),
    {
      body: pausedData.subarray(50_000),
      headers: { 'content-range': `50000-${pausedData.length - 1}` },
    },
  );
  assert.equal(rest.status, 201, rest.text());
  assert.deepEqual((await client.call('GET', `/v2/resume/paused/blobs/${sha256(pausedData)}`)).body, pausedData);

  for (const { data, location } of streaming) {
    const status = await client.call('GET', location);
    assert.equal(status.status, 204);
    const received = Number(/^0-(\d+)$/.exec(status.headers.range ?? '')?.[1]) + 1;
    assert.ok(received >= 10_000 && received <= data.length, `resumable from ${received}`);
    const put = await client.call('PUT', RegistryClient.withQuery(location, { digest: sha256(data) }), {
      body: data.subarray(received),
      headers: { 'content-range': `${received}-${data.length - 1}` },
    });
    assert.equal(put.status, 201, put.text());
    assert.equal(sha256((await client.call('GET', `/v2/resume/streaming/blobs/${sha256(data)}`)).body), sha256(data));
  }
});
