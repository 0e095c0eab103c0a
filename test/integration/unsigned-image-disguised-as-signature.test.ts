/**
 * An unsigned image dressed up as a signature must not be pulled past an `enforce` policy (issue 26).
 *
 * The attack: a signature manifest (`sha256-<hex>.sig`) is readable unsigned, so that `cosign
 * verify` works; the gateway recognised one by the media types its layer descriptors declare
 * (`application/vnd.dev.cosign.simplesigning.v1+json`, sigstore bundles, DSSE envelopes). Those
 * labels are whatever the pusher writes. Someone who may push but has no trusted key pushed an
 * ordinary image — gzipped tar layers — whose layer descriptors merely say "simplesigning": every
 * client could pull it under any tag, and podman (containers/image) pulls such an image and unpacks
 * its layers into the container's file system (seen with podman 4.3; Docker 28 refuses the media
 * type). A signature is now recognised by what its layers hold: each one a small JSON document (at
 * most SIGNATURE_LIMITS.payloadBytes, what its digest says), which no runtime can unpack into a file
 * system, let alone run.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { startGate, basic, type TestGate } from '../helpers/gate.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { assertError, OCI_CONFIG, OCI_MANIFEST, RegistryClient, sha256 } from '../helpers/registry-client.js';
import { BACKEND_KINDS, startBackend, type BackendUnderTest } from '../helpers/access-http.js';
import { makeSigningKey, signImage, signatureTag, SIMPLE_SIGNING, writePublicKey } from '../helpers/cosign-signer.js';

const PASSWORDS = { ci: 'ci-D1sguise-secret', dev: 'dev-D1sguise-secret' };
const RULES = [
  { repository: 'prod/**', actions: ['pull', 'push'], subjects: ['user:ci'] },
  { repository: '**', actions: ['pull'], subjects: ['user:dev'] },
];
const SIGSTORE_BUNDLE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const DSSE_ENVELOPE = 'application/vnd.dsse.envelope.v1+json';

for (const kind of BACKEND_KINDS) {
  describe(`an image whose layers are labelled as signatures is not a signature (${kind})`, () => {
    let dir: string;
    let backend: BackendUnderTest;
    let gate: TestGate;
    const ci = () => new RegistryClient(() => ({ baseUrl: gate.url, authHeader: basic('ci', PASSWORDS.ci) }));
    const dev = () => new RegistryClient(() => ({ baseUrl: gate.url, authHeader: basic('dev', PASSWORDS.dev) }));

    /** An image of `layers` (bytes, each under the media type given), pushed by ci under `tag`. */
    async function pushLabelled(repository: string, tag: string, layers: ReadonlyArray<[Buffer, string]>): Promise<string> {
      const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Entrypoint: ['/payload'] } }));
      const descriptors = [];
      for (const [bytes, mediaType] of layers)
        descriptors.push({ mediaType, size: bytes.length, digest: await ci().pushBlob(repository, bytes) });
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: { mediaType: OCI_CONFIG, size: config.length, digest: await ci().pushBlob(repository, config) },
          layers: descriptors,
        }),
      );
      await ci().pushManifest(repository, tag, manifest, OCI_MANIFEST);
      return sha256(manifest);
    }

    before(async () => {
      dir = await makeTempDir('rg-disguised-signature-');
      backend = await startBackend(kind, join(dir, 'distribution'));
      const keyFile = join(dir, 'cosign.pub');
      await writePublicKey(keyFile, makeSigningKey('ecdsa-p256'));
      gate = await startGate({
        dir: join(dir, 'gate'),
        users: PASSWORDS,
        bcryptCost: 4,
        config: {
          access: RULES,
          signatures: [{ name: 'production', repository: 'prod/**', keys: [keyFile], mode: 'enforce' }],
          ...backend.gateConfig,
        },
      });
    });

    after(async () => {
      await gate.stop();
      await backend.stop();
      if (dir) await removeDir(dir);
    });

    test('gzipped layers labelled simplesigning are refused, by tag and by digest, GET and HEAD', async () => {
      const tarball = gzipSync(Buffer.concat([randomBytes(2048), Buffer.alloc(1024)]));
      const digest = await pushLabelled('prod/disguised', 'v1', [[tarball, SIMPLE_SIGNING]]);
      for (const reference of ['v1', digest]) {
        assertError(await dev().call('GET', `/v2/prod/disguised/manifests/${reference}`), 403, 'DENIED');
        assertError(await dev().call('HEAD', `/v2/prod/disguised/manifests/${reference}`), 403, 'DENIED', 'HEAD');
      }
    });

    test('a real JSON payload beside a disguised layer does not make the manifest a signature', async () => {
      const payload = Buffer.from('{"critical":{},"optional":null}');
      const tarball = gzipSync(randomBytes(4096));
      await pushLabelled('prod/half-disguised', 'v1', [
        [payload, SIMPLE_SIGNING],
        [tarball, SIGSTORE_BUNDLE],
      ]);
      assertError(await dev().call('GET', '/v2/prod/half-disguised/manifests/v1'), 403, 'DENIED');
    });

    test('a layer that is JSON but larger than a payload may be, or not UTF-8 JSON, is not a signature either', async () => {
      const large = Buffer.from(JSON.stringify({ padding: 'x'.repeat(70 * 1024) }));
      await pushLabelled('prod/large-envelope', 'v1', [[large, DSSE_ENVELOPE]]);
      assertError(await dev().call('GET', '/v2/prod/large-envelope/manifests/v1'), 403, 'DENIED');
      const binary = Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xc0, 0xff, 0xfe, 0x8b]), Buffer.from('"}')]);
      await pushLabelled('prod/binary-envelope', 'v1', [[binary, DSSE_ENVELOPE]]);
      assertError(await dev().call('GET', '/v2/prod/binary-envelope/manifests/v1'), 403, 'DENIED');
    });

    test('a real cosign signature manifest stays readable unsigned, so that cosign verify works', async () => {
      const image = await ci().pushImage('prod/app', 'v1');
      await signImage(ci(), makeSigningKey('ecdsa-p256'), gate.host, 'prod/app', image.digest);
      const reply = await dev().call('GET', `/v2/prod/app/manifests/${signatureTag(image.digest)}`);
      assert.equal(reply.status, 200, reply.text());
      assertError(await dev().call('GET', '/v2/prod/app/manifests/v1'), 403, 'DENIED');
    });
  });
}
