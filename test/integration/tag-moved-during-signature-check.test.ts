/**
 * A tag pushed or moved while the gateway checks its signature must not serve the unchecked manifest
 * (issue 26, in front of a registry).
 *
 * The attack: the gateway resolves a pulled tag to its digest (a HEAD upstream), checks that digest's
 * signatures, and serves the manifest pinned to that digest. When the tag named nothing at that
 * moment, or the digest was gone by the time its manifest was read, the request went on to the
 * registry by tag, unpinned, "for its 404". Someone who may push but has no trusted key, racing a
 * victim's pull of `prod/app:latest`, deleted the tag (or its signed manifest) and pushed an
 * unsigned image under it in that window: the victim got the unsigned manifest under `enforce`.
 * The window is held open here by holding back the registry's answer to the gateway's HEAD
 * (test/helpers/fault-proxy.ts) while the push happens. A manifest read in a covered repository is
 * now forwarded by the checked digest or answered 404 by the gateway, never by tag.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startGate, basic, type TestGate } from '../helpers/gate.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { assertError, RegistryClient, type Reply } from '../helpers/registry-client.js';
import { startDistribution, type RunningDistribution } from '../helpers/distribution.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { makeSigningKey, signImage, writePublicKey, type SigningKey } from '../helpers/cosign-signer.js';
import { waitFor } from '../helpers/wait.js';

const PASSWORDS = { ci: 'ci-R4ce-secret', dev: 'dev-R4ce-secret' };
const RULES = [
  { repository: 'prod/**', actions: ['pull', 'push', 'delete'], subjects: ['user:ci'] },
  { repository: '**', actions: ['pull'], subjects: ['user:dev'] },
];

describe('a tag moved while its signature is checked', () => {
  let dir: string;
  let registry: RunningDistribution;
  let proxy: FaultProxy;
  let gate: TestGate;
  let key: SigningKey;
  const ci = () => new RegistryClient(() => ({ baseUrl: gate.url, authHeader: basic('ci', PASSWORDS.ci) }));
  const dev = () => new RegistryClient(() => ({ baseUrl: gate.url, authHeader: basic('dev', PASSWORDS.dev) }));

  before(async () => {
    dir = await makeTempDir('rg-tag-race-');
    registry = await startDistribution({ dir: join(dir, 'distribution') });
    proxy = await startFaultProxy(registry.url);
    key = makeSigningKey('ecdsa-p256');
    const keyFile = join(dir, 'cosign.pub');
    await writePublicKey(keyFile, key);
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

  /** dev's pull of `repository:tag`, with the registry's answer to the gateway's HEAD of the tag held back while `change` runs. */
  async function pullWhileTagChanges(repository: string, tag: string, change: () => Promise<void>): Promise<Reply> {
    proxy.setFault(`/v2/${repository}/manifests/${tag}`, 'hold', ['HEAD']);
    const pulling = dev().call('GET', `/v2/${repository}/manifests/${tag}`);
    await waitFor("the registry answered the gateway's HEAD, held back", () => proxy.heldCount === 1);
    proxy.clearFaults();
    await change();
    proxy.releaseHeld();
    return pulling;
  }

  test('a tag pushed unsigned after the gateway found it absent is not served', async () => {
    const reply = await pullWhileTagChanges('prod/fresh', 'latest', async () => {
      await ci().pushImage('prod/fresh', 'latest');
    });
    assertError(reply, 404, 'MANIFEST_UNKNOWN');
    assertError(await dev().call('GET', '/v2/prod/fresh/manifests/latest'), 403, 'DENIED');
  });

  test('a tag moved to an unsigned image after its signed manifest was deleted is not served', async () => {
    const signed = await ci().pushImage('prod/moved', 'latest');
    await signImage(ci(), key, gate.host, 'prod/moved', signed.digest);
    const reply = await pullWhileTagChanges('prod/moved', 'latest', async () => {
      assert.equal((await ci().call('DELETE', `/v2/prod/moved/manifests/${signed.digest}`)).status, 202);
      await ci().pushImage('prod/moved', 'latest');
    });
    assertError(reply, 404, 'MANIFEST_UNKNOWN');
    assertError(await dev().call('GET', '/v2/prod/moved/manifests/latest'), 403, 'DENIED');
  });
});
