/**
 * Sigstore bundles attached as OCI 1.1 referrers (issue 26, item 2), on both backends (the
 * referrers API of the built-in registry; the referrers tag `sha256-<hex>` in front of
 * Distribution 2.8): a DSSE bundle (an in-toto statement naming the digest) or a message-signature
 * bundle (over the manifest's bytes) by a policy key signs the image, but only for a policy that
 * opts in (`referrers: true`), since a bundle names no repository.
 *
 * The attacks it keeps out: a bundle by another key; a bundle that names another manifest's digest
 * (statement subject or message digest); a bundle whose JSON repeats a key so that two readers see
 * two bundles; a bundle that trusts a certificate (keyless, Fulcio) rather than a policy key; a
 * bundle of megabytes; a digest with many referrers, to make every pull read them all.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdir, writeFile } from 'node:fs/promises';
import { startGate, basic, type TestGate } from '../helpers/gate.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { makeTempDir, removeDir, runProcess } from '../helpers/process.js';
import { assertError, RegistryClient } from '../helpers/registry-client.js';
import { BACKEND_KINDS, startBackend, waitForAudit, type BackendUnderTest } from '../helpers/access-http.js';
import { makeSigningKey, writePublicKey, type SigningKey } from '../helpers/cosign-signer.js';
import { attachBundle, dsseBundle, IN_TOTO, messageBundle, signStatement, type Subject } from '../helpers/sigstore-bundle.js';

const PASSWORDS = { ci: 'ci-Bundl3r-secret', dev: 'dev-Read3r-secret' };
const RULES = [
  { repository: 'bundled/**', actions: ['pull', 'push', 'delete'], subjects: ['user:ci'] },
  { repository: 'tagonly/**', actions: ['pull', 'push', 'delete'], subjects: ['user:ci'] },
  { repository: '**', actions: ['pull'], subjects: ['user:dev'] },
];

for (const kind of BACKEND_KINDS) {
  describe(`signature bundles as referrers (${kind})`, () => {
    let dir: string;
    let tls: TlsPair;
    let backend: BackendUnderTest;
    let gate: TestGate;
    let auditFile: string;
    let keyFile: string;
    const keys: Record<string, SigningKey> = {};
    const stranger = makeSigningKey('ecdsa-p256');
    const client = (user: keyof typeof PASSWORDS) =>
      new RegistryClient(() => ({ baseUrl: gate.url, dispatcher: gate.dispatcher, authHeader: basic(user, PASSWORDS[user]) }));
    const ecdsa = () => keys['ecdsa-p256'] as SigningKey;

    async function pushImage(repository: string): Promise<Subject & { manifest: Buffer }> {
      const image = await client('ci').pushImage(repository, 'v1');
      return { digest: image.digest, mediaType: image.mediaType, size: image.manifest.length, manifest: image.manifest };
    }
    const attach = (repository: string, subject: Subject, bundle: Buffer) => attachBundle(client('ci'), repository, subject, bundle);
    const statementFor = (repository: string, digest: string) => signStatement(`${gate.host}/${repository}`, digest);

    async function assertPulled(repository: string, digest: string): Promise<void> {
      for (const reference of ['v1', digest]) {
        for (const method of ['GET', 'HEAD']) {
          const reply = await client('dev').call(method, `/v2/${repository}/manifests/${reference}`);
          assert.equal(reply.status, 200, `${method} ${reference}: ${reply.text()}`);
          assert.equal(reply.headers['docker-content-digest'], digest);
        }
      }
    }

    /** Refused to a reader, and the audit line says why (`detail` matches `why`). */
    async function assertRefused(repository: string, why: RegExp): Promise<void> {
      assertError(await client('dev').call('GET', `/v2/${repository}/manifests/v1`), 403, 'DENIED');
      const found = (lines: Awaited<ReturnType<typeof waitForAudit>>) =>
        lines.find((line) => line.repository === repository && line.reason === 'unsigned' && why.test(String(line.detail)));
      const line = found(await waitForAudit(auditFile, (lines) => found(lines) !== undefined));
      assert.ok(line, `an audit line for ${repository} matching ${String(why)}`);
    }

    before(async () => {
      dir = await makeTempDir('rg-bundles-');
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
            { name: 'bundles', repository: 'bundled/**', keys: [keyFile], mode: 'enforce', referrers: true },
            { name: 'tags-only', repository: 'tagonly/**', keys: [keyFile], mode: 'enforce' },
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

    test('the test signer is checked by openssl: the DSSE signature over the PAE bytes, the message signature over the manifest', async () => {
      const manifest = Buffer.from('{"schemaVersion":2,"note":"any manifest bytes"}');
      const statement = statementFor('bundled/x', 'sha256:' + 'ab'.repeat(32));
      const dsse = JSON.parse(dsseBundle(ecdsa(), statement).toString()) as {
        dsseEnvelope: { payload: string; payloadType: string; signatures: { sig: string }[] };
      };
      const payload = Buffer.from(dsse.dsseEnvelope.payload, 'base64');
      assert.equal(payload.toString(), statement.toString());
      assert.equal(dsse.dsseEnvelope.payloadType, IN_TOTO);
      // The PAE written out by hand from the spec, not by the signer's function.
      const paeText = `DSSEv1 ${String(IN_TOTO.length)} ${IN_TOTO} ${String(payload.length)} ${payload.toString()}`;
      const message = JSON.parse(messageBundle(ecdsa(), manifest).toString()) as {
        messageSignature: { messageDigest: { digest: string }; signature: string };
      };
      const work = join(dir, 'openssl');
      await mkdir(work);
      await writeFile(join(work, 'key.pem'), ecdsa().publicPem);
      const checks = [
        { data: Buffer.from(paeText), signature: dsse.dsseEnvelope.signatures[0]?.sig ?? '' },
        { data: manifest, signature: message.messageSignature.signature },
      ];
      for (const [index, check] of checks.entries()) {
        await writeFile(join(work, `data${String(index)}`), check.data);
        await writeFile(join(work, `sig${String(index)}`), Buffer.from(check.signature, 'base64'));
        const args = ['dgst', '-sha256', '-verify', 'key.pem', '-signature', `sig${String(index)}`, `data${String(index)}`];
        const result = await runProcess('openssl', args, { cwd: work, timeoutMs: 30_000 });
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, /Verified OK/);
      }
      const sha = await runProcess('openssl', ['dgst', '-sha256', '-r', 'data1'], { cwd: work, timeoutMs: 30_000 });
      const hex = Buffer.from(message.messageSignature.messageDigest.digest, 'base64').toString('hex');
      assert.equal(sha.stdout.split(' ')[0], hex);
    });

    test('a DSSE bundle attached as a referrer signs the image; attaching it drops the cached "unsigned" verdict', async () => {
      const image = await pushImage('bundled/dsse');
      await assertRefused('bundled/dsse', /no signature tag; referrers: no referrer/);
      const referrer = await attach('bundled/dsse', image, dsseBundle(ecdsa(), statementFor('bundled/dsse', image.digest)));
      // At once, well inside the verdict TTL: the referrer's push dropped the repository's verdicts.
      await assertPulled('bundled/dsse', image.digest);
      // A verifier at the client reads the bundle: the referrer manifest, and where used, the referrers tag.
      assert.equal((await client('dev').call('GET', `/v2/bundled/dsse/manifests/${referrer}`)).status, 200);
      if (kind === 'distribution') {
        const tag = await client('dev').call('GET', `/v2/bundled/dsse/manifests/${image.digest.replace(':', '-')}`);
        assert.equal(tag.status, 200, tag.text());
      }
    });

    for (const name of ['ed25519', 'rsa'] as const) {
      test(`a message-signature bundle by an ${name} key over the manifest bytes signs the image`, async () => {
        const repository = `bundled/message-${name}`;
        const image = await pushImage(repository);
        await attach(repository, image, messageBundle(keys[name] as SigningKey, image.manifest));
        await assertPulled(repository, image.digest);
      });
    }

    test('without the opt-in, a valid bundle does not sign the image', async () => {
      const image = await pushImage('tagonly/app');
      await attach('tagonly/app', image, dsseBundle(ecdsa(), statementFor('tagonly/app', image.digest)));
      await assertRefused('tagonly/app', /signature policy tags-only: no signature tag$/);
    });

    test('a bundle by another key is refused', async () => {
      const image = await pushImage('bundled/stranger');
      await attach('bundled/stranger', image, dsseBundle(stranger, statementFor('bundled/stranger', image.digest)));
      await attach('bundled/stranger', image, messageBundle(stranger, image.manifest));
      await assertRefused('bundled/stranger', /referrers: no trusted key made this bundle/);
    });

    test("a bundle for another manifest's digest, attached to this one, is refused", async () => {
      const other = await pushImage('bundled/other');
      const image = await pushImage('bundled/target');
      await attach('bundled/target', image, dsseBundle(ecdsa(), statementFor('bundled/target', other.digest)));
      await assertRefused('bundled/target', /referrers: the in-toto statement is for another digest/);
      const second = await pushImage('bundled/target-message');
      await attach('bundled/target-message', second, messageBundle(ecdsa(), other.manifest));
      await assertRefused('bundled/target-message', /referrers: the message signature is for another digest/);
    });

    test('a bundle or statement that repeats a key is refused, even when correctly signed', async () => {
      const image = await pushImage('bundled/twice');
      const hex = image.digest.replace('sha256:', '');
      // JavaScript and Go read the last `subject`, other readers the first: ambiguous, so refused.
      const statement = Buffer.from(
        `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"x","digest":{"sha256":"${'0'.repeat(64)}"}}],"subject":[{"name":"x","digest":{"sha256":"${hex}"}}],"predicateType":"https://sigstore.dev/cosign/sign/v1","predicate":{}}`,
      );
      await attach('bundled/twice', image, dsseBundle(ecdsa(), statement));
      await assertRefused('bundled/twice', /in-toto statement is not unambiguous JSON: the key "subject" appears twice/);
      const second = await pushImage('bundled/twice-bundle');
      const good = dsseBundle(ecdsa(), statementFor('bundled/twice-bundle', second.digest)).toString();
      const repeated = Buffer.from(good.replace('{"mediaType":', '{"mediaType":"text/plain","mediaType":'));
      await attach('bundled/twice-bundle', second, repeated);
      await assertRefused('bundled/twice-bundle', /the bundle is not unambiguous JSON: the key "mediaType" appears twice/);
    });

    test("a bundle whose verification material is a certificate is refused, even with a trusted key's signature", async () => {
      const image = await pushImage('bundled/certificate');
      const bundle = JSON.parse(dsseBundle(ecdsa(), statementFor('bundled/certificate', image.digest)).toString()) as Record<
        string,
        unknown
      >;
      bundle.verificationMaterial = { certificate: { rawBytes: Buffer.from('not checked').toString('base64') }, tlogEntries: [] };
      await attach('bundled/certificate', image, Buffer.from(JSON.stringify(bundle)));
      await assertRefused('bundled/certificate', /not signed with a key \(certificates are not accepted\)/);
    });

    test('a bundle of megabytes is not read', async () => {
      const image = await pushImage('bundled/huge');
      const bundle = JSON.parse(dsseBundle(ecdsa(), statementFor('bundled/huge', image.digest)).toString()) as Record<string, unknown>;
      bundle.padding = 'x'.repeat(2 * 1024 * 1024);
      await attach('bundled/huge', image, Buffer.from(JSON.stringify(bundle)));
      await assertRefused('bundled/huge', /the bundle is larger than 65536 bytes/);
    });

    test('of many referrers, a bounded number is read, and the pull is answered promptly', async () => {
      const image = await pushImage('bundled/many');
      for (let i = 0; i < 20; i++) await attach('bundled/many', image, messageBundle(stranger, image.manifest));
      const started = Date.now();
      await assertRefused('bundled/many', /no trusted key made this bundle \(read 8 of 20 referrers\)/);
      assert.ok(Date.now() - started < 10_000, 'the refusal came within 10 seconds');
    });
  });
}
