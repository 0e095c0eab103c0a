/**
 * The attacks: the content cache keeps bytes once per digest, whatever registry and repository
 * they came through, and mirrors add more ways to name a repository.
 *
 * - A caller who may pull only `hub/public/**` asks for a digest cached through `hub/private/secret`
 *   via `hub/public/app`: the mirrored registry must be asked (it says 404), nothing served.
 * - The same upstream name through another mirror (`quay/private/secret`, a different registry
 *   whose `private/secret` does not hold the digest): what hub said about its `private/secret` must
 *   not be believed for quay's, else quay's name reads hub's content.
 * - `?ns=` (containerd's mirror convention) used to reach a mirror's repository the rules do not
 *   let the caller pull, or to dodge the rules with a name that differs from the one served.
 * - Names that would walk out of the mirror's prefix (`hub/../private`, encoded dots, empty
 *   segments, `?ns=` with such a name): refused before any decision or any mirrored registry.
 * - With the mirrored registry down, content it never said a repository has is not served stale.
 * - A delete on the primary registry of a repository with the same name must not end what a
 *   mirror serves, and a delete through a mirror is refused.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startDistribution, type RunningDistribution } from '../helpers/distribution.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { startGate, basic, type TestGate } from '../helpers/gate.js';
import { RegistryClient, assertError, randomBlob } from '../helpers/registry-client.js';

const ALICE = { user: 'alice', password: 'alice-secret-1' };
const MALLORY = { user: 'mallory', password: 'mallory-secret-2' };

describe('a digest cached through one mirror repository is not readable through another name', () => {
  let dir: string;
  let primary: RunningDistribution;
  let hub: RunningDistribution;
  let quay: RunningDistribution;
  let hubProxy: FaultProxy;
  let gate: TestGate;
  let alice: RegistryClient;
  let mallory: RegistryClient;
  const secret = randomBlob(32 * 1024);
  let digest: string;

  before(async () => {
    dir = await makeTempDir('rg-mirror-xrepo-');
    primary = await startDistribution({ dir: join(dir, 'primary') });
    hub = await startDistribution({ dir: join(dir, 'hub') });
    quay = await startDistribution({ dir: join(dir, 'quay') });
    hubProxy = await startFaultProxy(hub.url);
    gate = await startGate({
      dir,
      users: { [ALICE.user]: ALICE.password, [MALLORY.user]: MALLORY.password },
      config: {
        upstream: { url: primary.url, cache: true },
        mirrors: [
          { repository: 'hub/**', url: hubProxy.url, stripPrefix: 'hub/', namespace: 'docker.io', timeout: '3s' },
          { repository: 'quay/**', url: quay.url, stripPrefix: 'quay/', namespace: 'quay.io' },
        ],
        cache: { dir: join(dir, 'cache') },
        access: [
          { repository: '**', actions: ['pull', 'push', 'delete'], subjects: [`user:${ALICE.user}`] },
          { repository: 'hub/public/**', actions: ['pull'], subjects: [`user:${MALLORY.user}`] },
          { repository: 'quay/**', actions: ['pull'], subjects: [`user:${MALLORY.user}`] },
        ],
      },
    });
    alice = new RegistryClient(() => ({ baseUrl: gate.url, authHeader: basic(ALICE.user, ALICE.password) }));
    mallory = new RegistryClient(() => ({ baseUrl: gate.url, authHeader: basic(MALLORY.user, MALLORY.password) }));
    const hubDirect = new RegistryClient(() => ({ baseUrl: hub.url }));
    digest = await hubDirect.pushBlob('private/secret', secret);
    await hubDirect.pushImage('public/app', 'latest');
    await new RegistryClient(() => ({ baseUrl: quay.url })).pushImage('private/secret', 'latest');
    await alice.pushBlob('private/secret', secret); // the primary has a repository of that name, with the digest
    const warm = await alice.call('GET', `/v2/hub/private/secret/blobs/${digest}`);
    assert.ok(warm.body.equals(secret), 'cached through hub/private/secret');
  });

  after(async () => {
    await gate.stop();
    await hubProxy.stop();
    for (const registry of [primary, hub, quay]) await registry.stop();
    await removeDir(dir);
  });

  test('through another repository of the same mirror: 404, and the repository itself is refused', async () => {
    for (const method of ['GET', 'HEAD']) {
      const through = await mallory.call(method, `/v2/hub/public/app/blobs/${digest}`);
      assertError(through, 404, 'BLOB_UNKNOWN', method);
      assert.ok(!through.body.includes(secret.subarray(0, 32)));
      assertError(await mallory.call(method, `/v2/hub/private/secret/blobs/${digest}`), [401, 403], ['DENIED', 'UNAUTHORIZED'], method);
    }
  });

  test("through another mirror's repository of the same upstream name: that registry is asked, 404", async () => {
    for (const method of ['GET', 'HEAD']) {
      const through = await mallory.call(method, `/v2/quay/private/secret/blobs/${digest}`);
      assertError(through, 404, 'BLOB_UNKNOWN', method);
      assert.ok(!through.body.includes(secret.subarray(0, 32)));
    }
  });

  test('ns= maps to the mirror name and is decided on it: no way around the rules', async () => {
    const path = `/v2/private/secret/blobs/${digest}`;
    assertError(await mallory.call('GET', `${path}?ns=docker.io`), [401, 403], ['DENIED', 'UNAUTHORIZED']);
    assertError(await mallory.call('GET', `${path}?ns=docker.io&ns=quay.io`), [401, 403], ['DENIED', 'UNAUTHORIZED']);
    assertError(await mallory.call('GET', `${path}?ns=elsewhere.example`), [401, 403], ['DENIED', 'UNAUTHORIZED']);
    // quay.io is mallory's to pull, but quay's private/secret does not hold the digest.
    assertError(await mallory.call('GET', `${path}?ns=quay.io`), 404, 'BLOB_UNKNOWN');
    const allowed = await alice.call('GET', `${path}?ns=docker.io`);
    assert.equal(allowed.status, 200);
    assert.ok(allowed.body.equals(secret));
  });

  test("names that would leave the mirror's prefix are refused before anything is asked", async () => {
    const asked = hubProxy.requests.length;
    for (const path of [
      `/v2/hub/../private/secret/blobs/${digest}`,
      `/v2/hub/%2e%2e/private/secret/blobs/${digest}`,
      `/v2/hub/public/..%2F..%2Fprivate/secret/blobs/${digest}`,
      `/v2/hub//private/secret/blobs/${digest}`,
      `/v2/hub/./private/secret/blobs/${digest}`,
      `/v2/../private/secret/blobs/${digest}?ns=docker.io`,
      `/v2/Private/secret/blobs/${digest}?ns=docker.io`,
    ]) {
      // (The URL parser of the client folds some dot segments itself: those arrive as /v2/private/..., mallory's to be refused.)
      const reply = await mallory.call('GET', path);
      assert.ok([400, 403, 404].includes(reply.status), `${path}: ${reply.status}`);
      assert.ok(!reply.body.includes(secret.subarray(0, 32)), path);
    }
    assert.equal(hubProxy.requests.length, asked, 'the mirrored registry was asked nothing');
  });

  test('with the mirrored registry down, nothing it never said a repository has is served stale', async () => {
    await hubProxy.stopListening();
    try {
      const through = await mallory.call('GET', `/v2/hub/public/app/blobs/${digest}`);
      assert.notEqual(through.status, 200);
      assert.ok(!through.body.includes(secret.subarray(0, 32)));
      // A delete of the same name on the primary, while the mirror cannot be asked: the mirror's answer stands.
      assert.equal((await alice.call('GET', `/v2/private/secret/blobs/${digest}`)).status, 200);
      assert.equal((await alice.call('DELETE', `/v2/private/secret/blobs/${digest}`)).status, 202);
      assertError(await alice.call('GET', `/v2/private/secret/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
      const mirrored = await alice.call('GET', `/v2/hub/private/secret/blobs/${digest}`);
      assert.equal(mirrored.status, 200, mirrored.text());
      assert.ok(mirrored.body.equals(secret));
    } finally {
      await hubProxy.listenAgain();
    }
    assertError(await alice.call('DELETE', `/v2/hub/private/secret/blobs/${digest}`), 403, 'DENIED');
    assert.equal((await alice.call('GET', `/v2/hub/private/secret/blobs/${digest}`)).status, 200);
  });
});
