/**
 * The built-in registry with a real client: skopeo through registry-gate's TLS and Basic auth copies
 * multi-layer OCI and Docker-format images in and out again with every digest intact, lists tags,
 * and deletes.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { makeOciImage, readOciLayoutDigests, type OciImage } from '../helpers/oci-image.js';
import { skopeoCopy, skopeoDelete, skopeoInspect, skopeoListTags, dockerRef } from '../helpers/skopeo.js';
import { startGate, type TestGate } from '../helpers/gate.js';

const USER = { user: 'alice', password: 'alice-secret-1' };

let dir: string;
let tls: TlsPair;
let gate: TestGate;
let image: OciImage;

before(async () => {
  dir = await makeTempDir('rg-builtin-skopeo-');
  tls = await makeTlsPair(join(dir, 'tls'));
  gate = await startGate({
    dir,
    tls,
    users: { [USER.user]: USER.password },
    config: { access: [{ repository: '**', actions: ['pull', 'push', 'delete'], subjects: ['authenticated'] }] },
  });
  image = await makeOciImage(join(dir, 'image'), { layers: [3000, 150_000, 2_000_000, 40] });
});

after(async () => {
  await gate.stop();
  await removeDir(dir);
});

const access = () => ({ creds: USER, certDir: tls.caDir });

test('an OCI image goes in and comes out with every digest', async () => {
  const pushed = await skopeoCopy({ from: image.ref, to: dockerRef(gate.host, 'apps/oci', 'v1'), dest: access(), preserveDigests: true });
  assert.equal(pushed.code, 0, pushed.stderr);
  const out = join(dir, 'out-oci');
  const pulled = await skopeoCopy({
    from: dockerRef(gate.host, 'apps/oci', 'v1'),
    to: `oci:${out}:v1`,
    src: access(),
    preserveDigests: true,
  });
  assert.equal(pulled.code, 0, pulled.stderr);
  const digests = await readOciLayoutDigests(out, 'v1');
  assert.equal(digests.manifestDigest, image.manifestDigest);
  assert.equal(digests.configDigest, image.configDigest);
  assert.deepEqual(digests.layerDigests, image.layerDigests);
});

test('a Docker schema 2 image goes in and comes out with the digests the registry reports', async () => {
  const pushed = await skopeoCopy({ from: image.ref, to: dockerRef(gate.host, 'apps/docker', 'v1'), dest: access(), format: 'v2s2' });
  assert.equal(pushed.code, 0, pushed.stderr);
  const raw = await skopeoInspect(dockerRef(gate.host, 'apps/docker', 'v1'), { ...access(), raw: true });
  assert.equal(raw.code, 0, raw.stderr);
  const manifest = JSON.parse(raw.stdout) as { mediaType: string; config: { digest: string }; layers: Array<{ digest: string }> };
  assert.equal(manifest.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
  const out = join(dir, 'out-docker');
  const pulled = await skopeoCopy({
    from: dockerRef(gate.host, 'apps/docker', 'v1'),
    to: `oci:${out}:v1`,
    src: access(),
    preserveDigests: true,
  });
  assert.equal(pulled.code, 0, pulled.stderr);
  const digests = await readOciLayoutDigests(out, 'v1');
  assert.equal(
    digests.manifestDigest,
    `sha256:${createHash('sha256').update(raw.stdout).digest('hex')}`,
    'the bytes pushed are the bytes served',
  );
  assert.equal(digests.configDigest, manifest.config.digest);
  assert.deepEqual(
    digests.layerDigests,
    manifest.layers.map((layer) => layer.digest),
  );
  for (const digest of digests.layerDigests) {
    const blob = await readFile(join(out, 'blobs', 'sha256', digest.slice('sha256:'.length)));
    assert.equal(`sha256:${createHash('sha256').update(blob).digest('hex')}`, digest);
  }
});

test('list-tags and delete', async () => {
  for (const tag of ['v2', 'latest']) {
    const copied = await skopeoCopy({ from: image.ref, to: dockerRef(gate.host, 'apps/oci', tag), dest: access(), preserveDigests: true });
    assert.equal(copied.code, 0, copied.stderr);
  }
  const listed = await skopeoListTags(`docker://${gate.host}/apps/oci`, access());
  assert.equal(listed.code, 0, listed.stderr);
  assert.deepEqual(listed.tags, ['latest', 'v1', 'v2']);

  const deleted = await skopeoDelete(dockerRef(gate.host, 'apps/oci', 'v2'), access());
  assert.equal(deleted.code, 0, deleted.stderr);
  // skopeo deletes by digest: every tag of that manifest goes with it.
  const gone = await skopeoInspect(dockerRef(gate.host, 'apps/oci', 'v1'), access());
  assert.notEqual(gone.code, 0);
  const after = await skopeoListTags(`docker://${gate.host}/apps/oci`, access());
  assert.deepEqual(after.tags, []);
});
