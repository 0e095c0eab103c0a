/**
 * Signature policies (`signatures`, issue 26), on both backends: a manifest pull in a covered
 * repository passes only with a cosign signature by a trusted key (ECDSA P-256, Ed25519, RSA) for
 * that digest in that repository; refused otherwise with DENIED naming the policy, and audited.
 * The signer may read by digest before signing; audit mode lets pulls through and records them; a
 * signed index vouches for its platforms; a signature pushed or deleted through the gateway counts
 * at once. skopeo pulls (its own sigstore checks are compiled out in Debian's build, so every
 * verdict here is the gateway's).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { startGate, basic, type TestGate } from '../helpers/gate.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { assertError, OCI_MANIFEST, RegistryClient } from '../helpers/registry-client.js';
import { BACKEND_KINDS, startBackend, waitForAudit, type BackendUnderTest } from '../helpers/access-http.js';
import { makeSigningKey, signatureTag, signImage, writePublicKey, type SigningKey } from '../helpers/cosign-signer.js';
import { dockerRef, skopeoCopy } from '../helpers/skopeo.js';

const PASSWORDS = { ci: 'ci-Sign3r-secret', dev: 'dev-Read3r-secret' };
const RULES = [
  { repository: 'prod/**', actions: ['pull', 'push', 'delete'], subjects: ['user:ci'] },
  { repository: 'trial/**', actions: ['pull', 'push', 'delete'], subjects: ['user:ci'] },
  { repository: '**', actions: ['pull'], subjects: ['user:dev'] },
];

for (const kind of BACKEND_KINDS) {
  describe(`signature policies (${kind})`, () => {
    let dir: string;
    let tls: TlsPair;
    let backend: BackendUnderTest;
    let gate: TestGate;
    let auditFile: string;
    let keyFile: string;
    const keys: Record<string, SigningKey> = {};
    const client = (user: keyof typeof PASSWORDS) =>
      new RegistryClient(() => ({ baseUrl: gate.url, dispatcher: gate.dispatcher, authHeader: basic(user, PASSWORDS[user]) }));
    const sign = (key: SigningKey, repository: string, digest: string) => signImage(client('ci'), key, gate.host, repository, digest);

    before(async () => {
      dir = await makeTempDir('rg-signatures-');
      tls = await makeTlsPair(join(dir, 'tls'));
      backend = await startBackend(kind, join(dir, 'distribution'));
      for (const name of ['ecdsa-p256', 'ed25519', 'rsa'] as const) keys[name] = makeSigningKey(name);
      await mkdir(join(dir, 'keys'));
      keyFile = join(dir, 'keys', 'cosign.pub');
      await writePublicKey(keyFile, ...Object.values(keys));
      auditFile = join(dir, 'audit.log');
      gate = await startGate({
        dir: join(dir, 'gate'),
        tls,
        users: PASSWORDS,
        bcryptCost: 4,
        config: {
          access: RULES,
          audit: { enabled: true, file: auditFile },
          signatures: [
            { name: 'production', repository: 'prod/**', keys: [keyFile], mode: 'enforce' },
            { name: 'trial', repository: 'trial/**', keys: [keyFile], mode: 'audit' },
          ],
          ...backend.gateConfig,
        },
      });
    });

    after(async () => {
      await gate.stop();
      await backend.stop();
      if (dir) await removeDir(dir);
    });

    test('an unsigned image is refused to a reader, by tag and by digest, GET and HEAD, naming the policy', async () => {
      const image = await client('ci').pushImage('prod/unsigned', 'v1');
      for (const reference of ['v1', image.digest]) {
        const got = await client('dev').call('GET', `/v2/prod/unsigned/manifests/${reference}`);
        assertError(got, 403, 'DENIED');
        assert.match(got.text(), /signature policy production/);
        assert.ok(!got.text().includes(keyFile) && !got.text().includes('cosign.pub'), 'the refusal must not name the keys');
        const head = await client('dev').call('HEAD', `/v2/prod/unsigned/manifests/${reference}`);
        assert.equal(head.status, 403);
      }
      const lines = await waitForAudit(auditFile, (all) =>
        all.some((line) => line.repository === 'prod/unsigned' && line.reason === 'unsigned'),
      );
      const refused = lines.find((line) => line.repository === 'prod/unsigned' && line.reason === 'unsigned');
      assert.ok(refused, 'an unsigned pull leaves an audit line');
      assert.equal(refused.decision, 'deny');
      assert.equal(refused.status, 403);
      assert.match(String(refused.detail), /signature policy production: no signature tag/);
    });

    test('the signer reads the unsigned manifest by digest (to sign it), not by tag', async () => {
      const image = await client('ci').pushImage('prod/to-sign', 'v1');
      const byDigest = await client('ci').call('GET', `/v2/prod/to-sign/manifests/${image.digest}`);
      assert.equal(byDigest.status, 200, byDigest.text());
      assert.equal(byDigest.headers['docker-content-digest'], image.digest);
      assertError(await client('ci').call('GET', '/v2/prod/to-sign/manifests/v1'), 403, 'DENIED');
      const lines = await waitForAudit(auditFile, (all) =>
        all.some((line) => line.repository === 'prod/to-sign' && line.reason === 'unsigned-signer-read'),
      );
      assert.ok(
        lines.some((line) => line.repository === 'prod/to-sign' && line.reason === 'unsigned-signer-read' && line.decision === 'allow'),
      );
    });

    for (const name of ['ecdsa-p256', 'ed25519', 'rsa'] as const) {
      test(`signed with an ${name} key, the image is pulled by tag and digest, and its signature can be read`, async () => {
        const repository = `prod/signed-${name}`;
        const image = await client('ci').pushImage(repository, 'v1');
        const key = keys[name];
        assert.ok(key);
        await sign(key, repository, image.digest);
        for (const reference of ['v1', image.digest]) {
          for (const method of ['GET', 'HEAD']) {
            const reply = await client('dev').call(method, `/v2/${repository}/manifests/${reference}`);
            assert.equal(reply.status, 200, `${method} ${reference}: ${reply.text()}`);
            assert.equal(reply.headers['docker-content-digest'], image.digest);
          }
        }
        // cosign verify, at a client, reads the signature manifest itself.
        const signature = await client('dev').call('GET', `/v2/${repository}/manifests/${signatureTag(image.digest)}`);
        assert.equal(signature.status, 200, signature.text());
      });
    }

    test('skopeo copies a signed image and is refused an unsigned one', async () => {
      const signed = await client('ci').pushImage('prod/skopeo', 'signed');
      await sign(keys['ecdsa-p256'] as SigningKey, 'prod/skopeo', signed.digest);
      await client('ci').pushImage('prod/skopeo', 'unsigned');
      const src = { creds: { user: 'dev', password: PASSWORDS.dev }, certDir: tls.caDir };
      const copied = await skopeoCopy({
        from: dockerRef(gate.host, 'prod/skopeo', 'signed'),
        to: `dir:${join(dir, 'pulled-signed')}`,
        src,
      });
      assert.equal(copied.code, 0, copied.stderr);
      const refused = await skopeoCopy({
        from: dockerRef(gate.host, 'prod/skopeo', 'unsigned'),
        to: `dir:${join(dir, 'pulled-unsigned')}`,
        src,
      });
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /denied|signature policy production/i);
    });

    test('a signed index lets its platforms be pulled by digest, with or without the index read first', async () => {
      const amd = await client('ci').pushImage('prod/multi', 'digest');
      const arm = await client('ci').pushImage('prod/multi', 'digest');
      const platforms = [
        { mediaType: OCI_MANIFEST, digest: amd.digest, size: amd.manifest.length, platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: OCI_MANIFEST, digest: arm.digest, size: arm.manifest.length, platform: { os: 'linux', architecture: 'arm64' } },
      ];
      const index = await client('ci').pushIndex('prod/multi', 'v1', platforms);
      await sign(keys.ed25519 as SigningKey, 'prod/multi', index.digest);
      // No verdict on the index yet: the platform is found through the index's signature tag.
      const cold = await client('dev').call('GET', `/v2/prod/multi/manifests/${arm.digest}`);
      assert.equal(cold.status, 200, cold.text());
      assert.equal((await client('dev').call('GET', '/v2/prod/multi/manifests/v1')).status, 200);
      assert.equal((await client('dev').call('GET', `/v2/prod/multi/manifests/${amd.digest}`)).status, 200);
      // A manifest no signed index lists stays refused.
      const stray = await client('ci').pushImage('prod/multi', 'stray');
      assertError(await client('dev').call('GET', `/v2/prod/multi/manifests/${stray.digest}`), 403, 'DENIED');
    });

    test('a signature pushed or deleted through the gateway counts at once', async () => {
      const image = await client('ci').pushImage('prod/later', 'v1');
      assertError(await client('dev').call('GET', '/v2/prod/later/manifests/v1'), 403, 'DENIED');
      const signatureDigest = await sign(keys.rsa as SigningKey, 'prod/later', image.digest);
      assert.equal((await client('dev').call('GET', '/v2/prod/later/manifests/v1')).status, 200);
      const deleted = await client('ci').call('DELETE', `/v2/prod/later/manifests/${signatureDigest}`);
      assert.equal(deleted.status, 202, deleted.text());
      assertError(await client('dev').call('GET', '/v2/prod/later/manifests/v1'), 403, 'DENIED');
    });

    test('audit mode serves an unsigned image and records that it would have been refused', async () => {
      await client('ci').pushImage('trial/app', 'v1');
      const got = await client('dev').call('GET', '/v2/trial/app/manifests/v1');
      assert.equal(got.status, 200, got.text());
      const lines = await waitForAudit(auditFile, (all) =>
        all.some((line) => line.repository === 'trial/app' && line.reason === 'unsigned'),
      );
      const line = lines.find((entry) => entry.repository === 'trial/app' && entry.reason === 'unsigned');
      assert.ok(line, 'audit mode records the unsigned pull');
      assert.equal(line.decision, 'allow');
      assert.equal(line.status, 200);
      assert.match(String(line.detail), /signature policy trial/);
    });
  });
}
