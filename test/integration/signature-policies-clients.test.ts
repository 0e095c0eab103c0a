/**
 * Signature policies with the clients that run images: the docker CLI (dockerd) and containerd's
 * ctr pull a signed image, are refused an unsigned one under `enforce` (the error names the policy),
 * and pull an unsigned one under `audit`, in front of both backends. What they send (a HEAD or GET
 * by tag, then the manifest by digest, then blobs) must all pass for a signed image.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { startGate, basic, type TestGate } from '../helpers/gate.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { RegistryClient } from '../helpers/registry-client.js';
import { BACKEND_KINDS, startBackend, type BackendUnderTest } from '../helpers/access-http.js';
import { makeSigningKey, signImage, writePublicKey, type SigningKey } from '../helpers/cosign-signer.js';
import { dockerRef, skopeoCopy } from '../helpers/skopeo.js';
import { makeOciImage, type OciImage } from '../helpers/oci-image.js';
import { startDockerd, type RunningDockerd } from '../helpers/dockerd.js';
import { startContainerd, type RunningContainerd } from '../helpers/containerd.js';

const PASSWORDS = { ci: 'ci-Cl1ents-secret', dev: 'dev-Cl1ents-secret' };
const RULES = [
  { repository: '**', actions: ['pull', 'push'], subjects: ['user:ci'] },
  { repository: '**', actions: ['pull'], subjects: ['user:dev'] },
];
const DEV = { user: 'dev', password: PASSWORDS.dev };

describe('signature policies with docker and containerd', () => {
  let dir: string;
  let dockerd: RunningDockerd;
  let containerd: RunningContainerd;
  let key: SigningKey;
  let signedImage: OciImage;
  let unsignedImage: OciImage;

  before(async () => {
    dir = await makeTempDir('rg-signature-clients-');
    key = makeSigningKey('ecdsa-p256');
    signedImage = await makeOciImage(join(dir, 'signed-image'), { tag: 'v1', layers: [randomBytes(3000)] });
    unsignedImage = await makeOciImage(join(dir, 'unsigned-image'), { tag: 'v1', layers: [randomBytes(3000)] });
    [dockerd, containerd] = await Promise.all([startDockerd(), startContainerd()]);
  });

  after(async () => {
    await Promise.all([dockerd.stop(), containerd.stop()]);
    if (dir) await removeDir(dir);
  });

  for (const kind of BACKEND_KINDS) {
    describe(kind, () => {
      let tls: TlsPair;
      let backend: BackendUnderTest;
      let gate: TestGate;
      const ref = (repository: string, tag: string) => `${gate.host}/${repository}:${tag}`;

      before(async () => {
        const here = join(dir, kind);
        await mkdir(here);
        tls = await makeTlsPair(join(here, 'tls'));
        backend = await startBackend(kind, join(here, 'distribution'));
        const keyFile = join(here, 'cosign.pub');
        await writePublicKey(keyFile, key);
        gate = await startGate({
          dir: join(here, 'gate'),
          tls,
          users: PASSWORDS,
          bcryptCost: 4,
          config: {
            access: RULES,
            signatures: [
              { name: 'production', repository: 'prod/**', keys: [keyFile], mode: 'enforce' },
              { name: 'trial', repository: 'trial/**', keys: [keyFile], mode: 'audit' },
            ],
            ...backend.gateConfig,
          },
        });
        const dest = { creds: { user: 'ci', password: PASSWORDS.ci }, certDir: tls.caDir };
        const pushes: Array<[OciImage, string, string]> = [
          [signedImage, 'prod/app', 'signed'],
          [unsignedImage, 'prod/app', 'unsigned'],
          [unsignedImage, 'trial/app', 'unsigned'],
        ];
        for (const [image, repository, tag] of pushes) {
          const pushed = await skopeoCopy({ from: image.ref, to: dockerRef(gate.host, repository, tag), dest, preserveDigests: true });
          assert.equal(pushed.code, 0, pushed.stderr);
        }
        const ci = new RegistryClient(() => ({ baseUrl: gate.url, dispatcher: gate.dispatcher, authHeader: basic('ci', PASSWORDS.ci) }));
        await signImage(ci, key, gate.host, 'prod/app', signedImage.manifestDigest);
        await containerd.trustRegistry(gate.host, tls.caFile);
        assert.equal((await dockerd.login(gate.host, DEV)).code, 0, 'docker login');
      });

      after(async () => {
        await dockerd.logout(gate.host);
        await gate.stop();
        await backend.stop();
      });

      test('docker pulls the signed image, is refused the unsigned one, and pulls it under audit', async () => {
        const signed = await dockerd.docker(['pull', ref('prod/app', 'signed')], { timeoutMs: 60_000 });
        assert.equal(signed.code, 0, signed.stderr);
        const refused = await dockerd.docker(['pull', ref('prod/app', 'unsigned')], { timeoutMs: 60_000 });
        assert.notEqual(refused.code, 0, 'docker must not pull an unsigned image under enforce');
        assert.match(refused.stderr, /denied.*signature policy production|signature policy production/i);
        const audited = await dockerd.docker(['pull', ref('trial/app', 'unsigned')], { timeoutMs: 60_000 });
        assert.equal(audited.code, 0, audited.stderr);
      });

      test('ctr pulls the signed image, is refused the unsigned one, and pulls it under audit', async () => {
        const namespace = `signatures-${kind}`;
        const signed = await containerd.pull(ref('prod/app', 'signed'), DEV, { namespace, timeoutMs: 60_000 });
        assert.equal(signed.code, 0, signed.stderr);
        assert.equal(await containerd.imageDigest(ref('prod/app', 'signed'), { namespace }), signedImage.manifestDigest);
        const refused = await containerd.pull(ref('prod/app', 'unsigned'), DEV, { namespace, timeoutMs: 60_000 });
        assert.notEqual(refused.code, 0, 'ctr must not pull an unsigned image under enforce');
        assert.match(refused.stderr, /403|denied/i);
        const audited = await containerd.pull(ref('trial/app', 'unsigned'), DEV, { namespace, timeoutMs: 60_000 });
        assert.equal(audited.code, 0, audited.stderr);
      });
    });
  }
});
