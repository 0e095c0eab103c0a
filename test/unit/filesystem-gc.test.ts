/**
 * Garbage collection of the built-in registry: what tags, index entries and referrers reach stays
 * intact and servable; untagged manifests, their blobs and orphan blobs go; a dry run removes
 * nothing; the grace period protects fresh content (pushes in flight).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runGc } from '../../src/backend/filesystem/index.js';
import { basic, startGate, type TestGate } from '../helpers/gate.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import {
  OCI_CONFIG,
  OCI_EMPTY,
  OCI_INDEX,
  OCI_LAYER,
  OCI_MANIFEST,
  randomBlob,
  RegistryClient,
  sha256,
} from '../helpers/registry-client.js';
import { waitFor } from '../helpers/wait.js';

/** With `gracePeriodMs: 0` a file counts as old once the clock has moved past its mtime: waits for that. */
async function pastTheLastWrite(): Promise<void> {
  const wrote = Date.now();
  await waitFor('the clock past the last write', () => Date.now() > wrote, { intervalMs: 1 });
}

interface Pushed {
  digest: string;
  manifest: Buffer;
  blobs: Map<string, number>;
}

describe('runGc', () => {
  let dir: string;
  /** The built-in registry's storage, which the gate serves and gc sweeps. */
  let root: string;
  let gate: TestGate;
  let client: RegistryClient;
  const sizes = new Map<string, number>();

  async function blob(repository: string, data: Buffer): Promise<{ digest: string; size: number }> {
    const digest = await client.pushBlob(repository, data);
    sizes.set(digest, data.length);
    return { digest, size: data.length };
  }

  /** An image manifest over `layers` (plus a fresh config), pushed under `reference`. */
  async function image(
    repository: string,
    reference: string | undefined,
    layers: { digest: string; size: number }[],
    extra: object = {},
  ): Promise<Pushed> {
    const config = await blob(repository, Buffer.from(JSON.stringify({ os: 'linux', nonce: randomBlob(8).toString('hex') })));
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: OCI_CONFIG, ...config },
        layers: layers.map((layer) => ({ mediaType: OCI_LAYER, ...layer })),
        ...extra,
      }),
    );
    const digest = sha256(manifest);
    await client.pushManifest(repository, reference ?? digest, manifest, OCI_MANIFEST);
    sizes.set(digest, manifest.length);
    return {
      digest,
      manifest,
      blobs: new Map([[config.digest, config.size], ...layers.map((l) => [l.digest, l.size] as [string, number])]),
    };
  }

  const subjectOf = (pushed: Pushed) => ({ subject: { mediaType: OCI_MANIFEST, digest: pushed.digest, size: pushed.manifest.length } });
  const ok = async (path: string) => assert.equal((await client.call('GET', path)).status, 200, path);
  const gone = async (path: string) => assert.equal((await client.call('GET', path)).status, 404, path);

  before(async () => {
    dir = await makeTempDir('registry-gate-gc-');
    root = join(dir, 'registry');
    gate = await startGate({
      dir,
      users: { gc: 'gc-test-pw' },
      config: { storage: { root }, access: [{ repository: '**', actions: ['pull', 'push', 'delete'], subjects: ['authenticated'] }] },
    });
    client = new RegistryClient(() => ({ baseUrl: gate.url, authHeader: basic('gc', 'gc-test-pw') }));
  });
  after(async () => {
    await gate.stop();
    await removeDir(dir);
  });

  test('keeps what tags, index entries and referrers reach; removes the rest and reports it', async () => {
    const shared = await blob('app', randomBlob(3000));
    const tagged = await image('app', 'a', [shared, await blob('app', randomBlob(1000))]);
    const untagged = await image('app', undefined, [shared, await blob('app', randomBlob(1100))]);
    const empty = await blob('app', Buffer.from('{}'));
    const referrerLayer = await blob('app', randomBlob(200));
    const referrer = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType: 'application/vnd.example.sig',
        config: { mediaType: OCI_EMPTY, ...empty },
        layers: [{ mediaType: OCI_LAYER, ...referrerLayer }],
        ...subjectOf(tagged),
      }),
    );
    await client.pushManifest('app', sha256(referrer), referrer, OCI_MANIFEST);
    const referrerOfUntagged = await image('app', undefined, [await blob('app', randomBlob(300))], subjectOf(untagged));
    const child = await image('app', undefined, [await blob('app', randomBlob(400))]);
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [{ mediaType: OCI_MANIFEST, digest: child.digest, size: child.manifest.length }],
      }),
    );
    await client.pushManifest('app', 'multi', index, OCI_INDEX);
    const orphan = await blob('app', randomBlob(500));
    const detagged = await image('other', 'gone', [await blob('other', randomBlob(600))]);
    assert.equal((await client.call('DELETE', '/v2/other/manifests/gone')).status, 202);

    const expectedManifests = [`app@${untagged.digest}`, `app@${referrerOfUntagged.digest}`, `other@${detagged.digest}`].sort();
    const expectedBlobs = [
      untagged.digest,
      ...[...untagged.blobs.keys()].filter((digest) => digest !== shared.digest),
      referrerOfUntagged.digest,
      ...referrerOfUntagged.blobs.keys(),
      orphan.digest,
      detagged.digest,
      ...detagged.blobs.keys(),
    ].sort();
    const expectedBytes = expectedBlobs.reduce((sum, digest) => sum + (sizes.get(digest) ?? Number.NaN), 0);

    // Everything is fresh: with the default grace period nothing may go.
    const fresh = await runGc({ root, dryRun: false });
    assert.deepEqual(fresh, { removedBlobs: [], removedManifests: [], bytesFreed: 0 });

    await pastTheLastWrite();
    const dry = await runGc({ root, dryRun: true, gracePeriodMs: 0 });
    assert.deepEqual([...dry.removedManifests].sort(), expectedManifests);
    assert.deepEqual([...dry.removedBlobs].sort(), expectedBlobs);
    assert.equal(dry.bytesFreed, expectedBytes);
    await ok(`/v2/app/manifests/${untagged.digest}`);
    await ok(`/v2/app/blobs/${orphan.digest}`);

    const report = await runGc({ root, dryRun: false, gracePeriodMs: 0 });
    assert.deepEqual([...report.removedManifests].sort(), expectedManifests);
    assert.deepEqual([...report.removedBlobs].sort(), expectedBlobs);
    assert.equal(report.bytesFreed, expectedBytes);

    // Reachable content is intact and served.
    for (const reference of ['a', tagged.digest, 'multi', child.digest, sha256(referrer)]) await ok(`/v2/app/manifests/${reference}`);
    for (const digest of [...tagged.blobs.keys(), ...child.blobs.keys(), empty.digest, referrerLayer.digest])
      await ok(`/v2/app/blobs/${digest}`);
    const referrers = (await client.call('GET', `/v2/app/referrers/${tagged.digest}`)).json<{ manifests: { digest: string }[] }>();
    assert.deepEqual(
      referrers.manifests.map((m) => m.digest),
      [sha256(referrer)],
    );
    // Unreachable content is gone.
    await gone(`/v2/app/manifests/${untagged.digest}`);
    await gone(`/v2/app/manifests/${referrerOfUntagged.digest}`);
    await gone(`/v2/other/manifests/${detagged.digest}`);
    for (const digest of expectedBlobs) await gone(`/v2/app/blobs/${digest}`);
    const referrersOfGone = (await client.call('GET', `/v2/app/referrers/${untagged.digest}`)).json<{ manifests: unknown[] }>();
    assert.deepEqual(referrersOfGone.manifests, []);

    // What remains on disk is exactly what was kept, each file still hashing to its name.
    const onDisk: string[] = [];
    const sha256Dir = join(root, 'blobs', 'sha256');
    for (const prefix of await readdir(sha256Dir)) {
      for (const hex of await readdir(join(sha256Dir, prefix))) {
        assert.equal(
          createHash('sha256')
            .update(await readFile(join(sha256Dir, prefix, hex)))
            .digest('hex'),
          hex,
        );
        onDisk.push(`sha256:${hex}`);
      }
    }
    assert.ok(expectedBlobs.every((digest) => !onDisk.includes(digest)));
    assert.ok([...tagged.blobs.keys(), tagged.digest, sha256(index), sha256(referrer)].every((digest) => onDisk.includes(digest)));

    assert.deepEqual(
      await runGc({ root, dryRun: false, gracePeriodMs: 0 }),
      { removedBlobs: [], removedManifests: [], bytesFreed: 0 },
      'a second run finds nothing',
    );
  });

  test('removeUntagged: false keeps untagged manifests and what they reference', async () => {
    const kept = await image('keep', undefined, [await blob('keep', randomBlob(700))]);
    await pastTheLastWrite();
    const report = await runGc({ root, dryRun: false, removeUntagged: false, gracePeriodMs: 0 });
    assert.deepEqual(report.removedManifests, []);
    await ok(`/v2/keep/manifests/${kept.digest}`);
    for (const digest of kept.blobs.keys()) await ok(`/v2/keep/blobs/${digest}`);
    const removing = await runGc({ root, dryRun: false, gracePeriodMs: 0 });
    assert.deepEqual(removing.removedManifests, [`keep@${kept.digest}`]);
  });

  test('what a crashed gc run had set aside is put back by the next run', async () => {
    const pushed = await image('crashed', 'v1', [await blob('crashed', randomBlob(100))]);
    const [config] = [...pushed.blobs.keys()] as [string];
    const hex = config.slice('sha256:'.length);
    const original = join(root, 'blobs', 'sha256', hex.slice(0, 2), hex);
    const aside = join(root, '_tmp', 'gc', 'blobs', 'sha256', hex.slice(0, 2), hex);
    await mkdir(dirname(aside), { recursive: true });
    await rename(original, aside); // as if a run died between its rename and its second look
    await gone(`/v2/crashed/blobs/${config}`);
    const report = await runGc({ root, dryRun: false, gracePeriodMs: 0 });
    assert.ok(!report.removedBlobs.includes(config));
    await ok(`/v2/crashed/blobs/${config}`);
    assert.deepEqual(await readdir(join(root, '_tmp', 'gc')), []);
  });

  test('a blob pushed moments ago (its manifest still to come) survives a gc', async () => {
    const pending = await blob('pending', randomBlob(800));
    const report = await runGc({ root, dryRun: false, gracePeriodMs: 60_000 });
    assert.ok(!report.removedBlobs.includes(pending.digest));
    await image('pending', 'late', [pending]);
    await ok(`/v2/pending/blobs/${pending.digest}`);
  });
});
