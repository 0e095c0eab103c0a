/**
 * Pulls that a forged or misplaced signature must not let through (signature policies, issue 26).
 *
 * The attack: someone who may push to a repository a policy covers, but has no trusted key, wants
 * an unsigned image pulled. They put something under its signature tag (`sha256-<hex>.sig`): a
 * signature by their own key; a real signature of another image; a real signature of this very
 * digest made for another repository (the payload's `docker-reference`); a trusted payload in which
 * a key repeats, so that two JSON readers see two digests; or a signature manifest or payload made
 * to cost the gateway unbounded work (thousands of layers with the good signature last, a payload
 * of megabytes, nesting thousands deep). Each is refused, with work bounded by SIGNATURE_LIMITS.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startGate, basic, type TestGate } from '../helpers/gate.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { assertError, OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, randomBlob, RegistryClient, sha256 } from '../helpers/registry-client.js';
import { BACKEND_KINDS, startBackend, type BackendUnderTest } from '../helpers/access-http.js';
import {
  makeSigningKey,
  pushSignatures,
  signatureLayer,
  signImage,
  simpleSigningPayload,
  writePublicKey,
  type SignatureLayer,
  type SigningKey,
} from '../helpers/cosign-signer.js';
import { SIGNATURE_LIMITS } from '../../src/lib/work-budget.js';

const PASSWORDS = { ci: 'ci-F0rger-secret', dev: 'dev-F0rger-secret' };
const RULES = [
  { repository: 'prod/**', actions: ['pull', 'push', 'delete'], subjects: ['user:ci'] },
  { repository: '**', actions: ['pull'], subjects: ['user:dev'] },
];

for (const kind of BACKEND_KINDS) {
  describe(`forged signatures are refused (${kind})`, () => {
    let dir: string;
    let backend: BackendUnderTest;
    let gate: TestGate;
    let trusted: SigningKey;
    const ci = () => new RegistryClient(() => ({ baseUrl: gate.url, authHeader: basic('ci', PASSWORDS.ci) }));
    const dev = () => new RegistryClient(() => ({ baseUrl: gate.url, authHeader: basic('dev', PASSWORDS.dev) }));
    const pull = (repository: string, reference: string) => dev().call('GET', `/v2/${repository}/manifests/${reference}`);
    const reference = (repository: string) => `${gate.host}/${repository}`;

    before(async () => {
      dir = await makeTempDir('rg-forged-signatures-');
      backend = await startBackend(kind, join(dir, 'distribution'));
      trusted = makeSigningKey('ecdsa-p256');
      const keyFile = join(dir, 'cosign.pub');
      await writePublicKey(keyFile, trusted);
      gate = await startGate({
        dir: join(dir, 'gate'),
        users: PASSWORDS,
        bcryptCost: 4,
        config: { access: RULES, signatures: [{ name: 'production', repository: 'prod/**', keys: [keyFile] }], ...backend.gateConfig },
      });
    });

    after(async () => {
      await gate.stop();
      await backend.stop();
      if (dir) await removeDir(dir);
    });

    test('a signature by another key', async () => {
      const image = await ci().pushImage('prod/other-key', 'v1');
      await signImage(ci(), makeSigningKey('ecdsa-p256'), gate.host, 'prod/other-key', image.digest);
      assertError(await pull('prod/other-key', 'v1'), 403, 'DENIED');
    });

    test("a trusted signature of another image, under this image's signature tag", async () => {
      const signed = await ci().pushImage('prod/other-digest', 'signed');
      const unsigned = await ci().pushImage('prod/other-digest', 'unsigned');
      const layer = signatureLayer(trusted, simpleSigningPayload(reference('prod/other-digest'), signed.digest));
      await pushSignatures(ci(), 'prod/other-digest', unsigned.digest, [layer]);
      assertError(await pull('prod/other-digest', 'unsigned'), 403, 'DENIED');
    });

    test('a trusted signature of the same digest made for another repository', async () => {
      const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', note: 'same in both' }));
      const layer = randomBlob(2048);
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: { mediaType: OCI_CONFIG, digest: sha256(config), size: config.length },
          layers: [{ mediaType: OCI_LAYER, digest: sha256(layer), size: layer.length }],
        }),
      );
      const digest = sha256(manifest);
      for (const repository of ['prod/signed-here', 'prod/copied-there']) {
        await ci().pushBlob(repository, config);
        await ci().pushBlob(repository, layer);
        await ci().pushManifest(repository, 'v1', manifest, OCI_MANIFEST);
      }
      const signature = signatureLayer(trusted, simpleSigningPayload(reference('prod/signed-here'), digest));
      await pushSignatures(ci(), 'prod/signed-here', digest, [signature]);
      await pushSignatures(ci(), 'prod/copied-there', digest, [signature]);
      assert.equal((await pull('prod/signed-here', 'v1')).status, 200);
      assertError(await pull('prod/copied-there', 'v1'), 403, 'DENIED');
      // A name that only starts like the repository is another repository too.
      const prefixed = signatureLayer(trusted, simpleSigningPayload(reference('prod/copied-there-not'), digest));
      await pushSignatures(ci(), 'prod/copied-there', digest, [prefixed]);
      assertError(await pull('prod/copied-there', 'v1'), 403, 'DENIED');
    });

    test('a trusted payload in which a key repeats (two readers, two digests)', async () => {
      const decoy = await ci().pushImage('prod/duplicate-keys', 'decoy');
      const image = await ci().pushImage('prod/duplicate-keys', 'v1');
      // JavaScript and Go take the last "image", other readers the first: the signer vouched for the decoy.
      const payload = Buffer.from(
        `{"critical":{"identity":{"docker-reference":"${reference('prod/duplicate-keys')}"},"image":{"docker-manifest-digest":"${decoy.digest}"},"image":{"docker-manifest-digest":"${image.digest}"},"type":"cosign container image signature"},"optional":null}`,
      );
      assert.equal(
        (JSON.parse(payload.toString()) as { critical: { image: Record<string, string> } }).critical.image['docker-manifest-digest'],
        image.digest,
      );
      await pushSignatures(ci(), 'prod/duplicate-keys', image.digest, [signatureLayer(trusted, payload)]);
      assertError(await pull('prod/duplicate-keys', 'v1'), 403, 'DENIED');
    });

    test(`a signature manifest of many layers: only the first ${SIGNATURE_LIMITS.signaturesPerManifest} are looked at`, async () => {
      const image = await ci().pushImage('prod/many-layers', 'v1');
      const good = signatureLayer(trusted, simpleSigningPayload(reference('prod/many-layers'), image.digest));
      const bogus: SignatureLayer = { payload: good.payload, signature: Buffer.alloc(72, 1).toString('base64') };
      const layers = [...Array.from({ length: 5000 }, () => bogus), good];
      await pushSignatures(ci(), 'prod/many-layers', image.digest, layers);
      const started = performance.now();
      assertError(await pull('prod/many-layers', 'v1'), 403, 'DENIED');
      assert.ok(performance.now() - started < 5000, 'the refusal must not take work proportional to the layers');
    });

    test('a signed payload of megabytes is not read whole', async () => {
      const image = await ci().pushImage('prod/huge-payload', 'v1');
      const padding = ' '.repeat(8 * 1024 * 1024);
      const payload = Buffer.concat([simpleSigningPayload(reference('prod/huge-payload'), image.digest), Buffer.from(padding)]);
      await pushSignatures(ci(), 'prod/huge-payload', image.digest, [signatureLayer(trusted, payload)]);
      assertError(await pull('prod/huge-payload', 'v1'), 403, 'DENIED');
    });

    test('a signed payload nested thousands deep is read without recursion, and passes when valid', async () => {
      const image = await ci().pushImage('prod/nested', 'v1');
      const depth = 10_000;
      const deep = `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
      const payload = Buffer.from(
        `{"critical":{"identity":{"docker-reference":"${reference('prod/nested')}"},"image":{"docker-manifest-digest":"${image.digest}"},"type":"cosign container image signature"},"optional":{"x":${deep}}}`,
      );
      assert.ok(payload.length <= SIGNATURE_LIMITS.payloadBytes);
      await pushSignatures(ci(), 'prod/nested', image.digest, [signatureLayer(trusted, payload)]);
      // containers/image accepts any object in `optional`: nesting is no reason to refuse, nor to crash.
      const reply = await pull('prod/nested', 'v1');
      assert.equal(reply.status, 200, reply.text());
    });
  });
}
