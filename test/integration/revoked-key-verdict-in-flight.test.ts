/**
 * A verdict made with a key that was removed while it was being made must not outlive the removal
 * (issue 26: "verdicts are dropped at once when the policy's key file changes").
 *
 * The attack: a signing key leaks and the operator takes it out of the policy's key file. A pull
 * whose verdict started just before the reload (its signature read slow, or held up on purpose by
 * whoever pulls) verified with the old key and cached "signed" after the reload had dropped the
 * verdicts: the drop only reached repositories that had a verdict cached at that moment. So images
 * signed with the revoked key kept being served for the verdict's lifetime (30 s), to everyone. Here
 * the registry's answer to the signature read is held back (test/helpers/fault-proxy.ts) across the
 * key file's replacement; the next pull must be refused.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startGate, basic, type TestGate } from '../helpers/gate.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { assertError, RegistryClient } from '../helpers/registry-client.js';
import { startDistribution, type RunningDistribution } from '../helpers/distribution.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { makeSigningKey, signatureTag, signImage, writePublicKey, type SigningKey } from '../helpers/cosign-signer.js';
import { pollUntil, waitFor } from '../helpers/wait.js';

const PASSWORDS = { ci: 'ci-R3voke-secret', dev: 'dev-R3voke-secret' };
const RULES = [
  { repository: 'prod/**', actions: ['pull', 'push'], subjects: ['user:ci'] },
  { repository: '**', actions: ['pull'], subjects: ['user:dev'] },
];

describe('a key removed while a verdict with it is being made', () => {
  let dir: string;
  let registry: RunningDistribution;
  let proxy: FaultProxy;
  let gate: TestGate;
  let keyFile: string;
  let leaked: SigningKey;
  const ci = () => new RegistryClient(() => ({ baseUrl: gate.url, authHeader: basic('ci', PASSWORDS.ci) }));
  const dev = () => new RegistryClient(() => ({ baseUrl: gate.url, authHeader: basic('dev', PASSWORDS.dev) }));

  before(async () => {
    dir = await makeTempDir('rg-revoked-key-');
    registry = await startDistribution({ dir: join(dir, 'distribution') });
    proxy = await startFaultProxy(registry.url);
    leaked = makeSigningKey('ecdsa-p256');
    keyFile = join(dir, 'cosign.pub');
    await writePublicKey(keyFile, leaked);
    gate = await startGate({
      dir: join(dir, 'gate'),
      users: PASSWORDS,
      bcryptCost: 4,
      config: {
        access: RULES,
        signatures: [{ name: 'production', repository: 'prod/**', keys: [keyFile], mode: 'enforce' }],
        upstream: { url: proxy.url },
      },
    });
  });

  after(async () => {
    proxy.releaseHeld();
    await gate.stop();
    await proxy.stop();
    await registry.stop();
    if (dir) await removeDir(dir);
  });

  test('an image signed only by the removed key is refused once the key file changed', async () => {
    const image = await ci().pushImage('prod/app', 'v1');
    await signImage(ci(), leaked, gate.host, 'prod/app', image.digest);
    const probe = await ci().pushImage('prod/probe', 'v1');
    await signImage(ci(), leaked, gate.host, 'prod/probe', probe.digest);

    proxy.setFault(signatureTag(image.digest), 'hold', ['GET']);
    const inFlight = dev().call('GET', '/v2/prod/app/manifests/v1');
    await waitFor("the registry answered the gateway's signature read, held back", () => proxy.heldCount === 1);
    proxy.clearFaults();

    await writeFile(`${keyFile}.new`, makeSigningKey('ecdsa-p256').publicPem);
    await rename(`${keyFile}.new`, keyFile);
    const probeStatus = async () => (await dev().call('GET', '/v2/prod/probe/manifests/v1')).status;
    assert.equal(await pollUntil(probeStatus, (status) => status === 403, { timeoutMs: 10_000 }), 403, 'the new key file took over');

    proxy.releaseHeld();
    await inFlight; // it started before the change: what it got is not the point; what is cached after it is
    assertError(await dev().call('GET', '/v2/prod/app/manifests/v1'), 403, 'DENIED');
    assertError(await dev().call('GET', `/v2/prod/app/manifests/${image.digest}`), 403, 'DENIED');
  });
});
