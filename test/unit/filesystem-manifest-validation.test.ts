/** What the built-in registry accepts as a manifest, and what it derives from one. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { digestBytes } from '../../src/backend/filesystem/digest.js';
import { DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST } from '../../src/oci/media-types.js';
import { parseManifest, referencedBlobs, referrerDescriptor, requiredBlobs } from '../../src/backend/filesystem/manifest-validation.js';
import { RegistryError } from '../../src/oci/errors.js';

const d = (seed: string) => digestBytes('sha256', Buffer.from(seed)).value;
const config = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: d('config'), size: 10 };
const layer = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d('layer'), size: 20 };

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

function invalid(bytes: Buffer | string, contentType: string | undefined, why: RegExp): void {
  assert.throws(
    () => parseManifest(Buffer.from(bytes), contentType),
    (error: unknown) => error instanceof RegistryError && error.code === 'MANIFEST_INVALID' && why.test(error.message),
  );
}

describe('parseManifest', () => {
  test('the four manifest types', () => {
    const image = parseManifest(json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] }), OCI_MANIFEST);
    assert.equal(image.kind, 'image');
    assert.equal(image.mediaType, OCI_MANIFEST);
    assert.deepEqual(
      referencedBlobs(image).map((x) => x.value),
      [config.digest, layer.digest],
    );

    const docker = parseManifest(
      json({ schemaVersion: 2, mediaType: DOCKER_MANIFEST, config, layers: [layer] }),
      `${DOCKER_MANIFEST}; charset=utf-8`,
    );
    assert.equal(docker.mediaType, DOCKER_MANIFEST);

    const entry = { mediaType: OCI_MANIFEST, digest: d('child'), size: 30, platform: { os: 'linux', architecture: 'arm64' } };
    const index = parseManifest(json({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [entry] }), OCI_INDEX);
    assert.equal(index.kind, 'index');
    assert.deepEqual(
      index.manifests.map((m) => m.digest.value),
      [entry.digest],
    );

    const list = parseManifest(json({ schemaVersion: 2, mediaType: DOCKER_MANIFEST_LIST, manifests: [entry] }), DOCKER_MANIFEST_LIST);
    assert.equal(list.mediaType, DOCKER_MANIFEST_LIST);
  });

  test('mediaType may be omitted (OCI); the Content-Type, or else the shape, decides', () => {
    assert.equal(parseManifest(json({ schemaVersion: 2, config, layers: [] }), OCI_MANIFEST).mediaType, OCI_MANIFEST);
    assert.equal(parseManifest(json({ schemaVersion: 2, manifests: [] }), undefined).mediaType, OCI_INDEX);
    assert.equal(parseManifest(json({ schemaVersion: 2, config }), undefined).mediaType, OCI_MANIFEST);
  });

  test('refusals', () => {
    invalid('{"schemaVersion": 2', OCI_MANIFEST, /JSON/);
    invalid('[1,2]', OCI_MANIFEST, /object/);
    invalid(
      JSON.stringify({ schemaVersion: 1, name: 'x', tag: 'y', fsLayers: [] }),
      'application/vnd.docker.distribution.manifest.v1+prettyjws',
      /schemaVersion/,
    );
    invalid(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [] }), OCI_INDEX, /does not match/);
    invalid(
      JSON.stringify({ schemaVersion: 2, mediaType: 'application/json', config }),
      'application/json',
      /unsupported manifest media type/,
    );
    invalid(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, layers: [] }), OCI_MANIFEST, /config/);
    invalid(
      JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { ...config, digest: 'sha256:abc' } }),
      OCI_MANIFEST,
      /digest/,
    );
    invalid(
      JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { ...config, digest: `md5:${'a'.repeat(32)}` } }),
      OCI_MANIFEST,
      /digest/,
    );
    invalid(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { ...config, size: -1 } }), OCI_MANIFEST, /size/);
    invalid(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: {} }), OCI_MANIFEST, /layers/);
    invalid(JSON.stringify({ schemaVersion: 2, mediaType: DOCKER_MANIFEST, config }), DOCKER_MANIFEST, /layers/);
    invalid(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [], config }), OCI_INDEX, /index/);
    invalid(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, annotations: { a: 1 } }), OCI_MANIFEST, /annotations/);
  });

  test('foreign (non-distributable) layers with URLs need not be pushed, but still count as references', () => {
    const foreign = {
      mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
      digest: d('windows'),
      size: 99,
      urls: ['https://example.com/l'],
    };
    const manifest = parseManifest(
      json({ schemaVersion: 2, mediaType: DOCKER_MANIFEST, config, layers: [foreign, layer] }),
      DOCKER_MANIFEST,
    );
    assert.deepEqual(
      requiredBlobs(manifest).map((x) => x.digest.value),
      [config.digest, layer.digest],
    );
    assert.equal(referencedBlobs(manifest).length, 3);
  });
});

describe('subject and the referrers descriptor', () => {
  const subject = { mediaType: OCI_MANIFEST, digest: d('subject'), size: 5 };

  test('artifactType, else the config media type; annotations copied', () => {
    const bytes = json({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: 'application/vnd.example',
      config,
      layers: [],
      subject,
      annotations: { a: 'b' },
    });
    const manifest = parseManifest(bytes, OCI_MANIFEST);
    assert.equal(manifest.subject?.digest.value, subject.digest);
    const digest = digestBytes('sha256', bytes);
    assert.deepEqual(referrerDescriptor(manifest, digest, bytes.length), {
      mediaType: OCI_MANIFEST,
      digest: digest.value,
      size: bytes.length,
      artifactType: 'application/vnd.example',
      annotations: { a: 'b' },
    });
    const plain = parseManifest(json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [], subject }), OCI_MANIFEST);
    assert.equal(referrerDescriptor(plain, digest, 1).artifactType, config.mediaType);
    const index = parseManifest(json({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [], subject }), OCI_INDEX);
    assert.equal('artifactType' in referrerDescriptor(index, digest, 1), false, 'an index without artifactType has none');
  });

  test('Docker schema2 manifests have no subject', () => {
    const manifest = parseManifest(json({ schemaVersion: 2, mediaType: DOCKER_MANIFEST, config, layers: [], subject }), DOCKER_MANIFEST);
    assert.equal(manifest.subject, undefined);
  });
});
