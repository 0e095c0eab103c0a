/**
 * A mirror (`mirrors`) of a real Distribution with htpasswd auth, the fault proxy in between: the
 * gateway's built-in registry stays the primary for every other name. Pulls cold and warm through
 * skopeo (each blob fetched once), the mirror's credentials used (the client's never), tags and
 * cached content served stale while the mirrored registry refuses connections or rate-limits (429),
 * a never-cached digest a quick 503, every write refused as a read-only mirror.
 */
import { describe, test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { request } from 'undici';
import { startDistribution, type RunningDistribution } from '../helpers/distribution.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { startGate, basic, writeHtpasswd, type TestGate } from '../helpers/gate.js';
import { RegistryClient, assertError, randomBlob, type Reply } from '../helpers/registry-client.js';
import { skopeoCopy, dockerRef } from '../helpers/skopeo.js';
import { readOciLayoutDigests } from '../helpers/oci-image.js';
import { UiClient } from '../helpers/ui-client.js';

const ALICE = { user: 'alice', password: 'alice-secret-1' };
const HUB_USER = { user: 'mirror-bot', password: 'mirror-bot-secret-9' };

/** 503 UNAVAILABLE: the gateway's own code for a registry behind that cannot be reached (not one of the spec's). */
function assertUnavailable(reply: Reply): void {
  assert.equal(reply.status, 503, reply.text());
  assert.equal(reply.json<{ errors: { code: string }[] }>().errors[0]?.code, 'UNAVAILABLE');
}

async function metric(gate: TestGate, name: string): Promise<number> {
  const url = gate.gate.metricsUrl;
  assert.ok(url, 'metrics are on');
  const text = await (await request(url)).body.text();
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `));
  return line ? Number(line.slice(name.length + 1)) : 0;
}

describe('a mirror of a registry with htpasswd auth, in front of the built-in registry', () => {
  let dir: string;
  let hub: RunningDistribution;
  let proxy: FaultProxy;
  let gate: TestGate;
  let client: RegistryClient;
  let hubDirect: RegistryClient;
  let image: { digest: string; blobs: string[] };

  before(async () => {
    dir = await makeTempDir('rg-mirror-');
    const hubPasswords = join(dir, 'hub-htpasswd');
    await writeHtpasswd(hubPasswords, { [HUB_USER.user]: HUB_USER.password });
    hub = await startDistribution({ dir: join(dir, 'hub'), auth: { htpasswd: { realm: 'hub', path: hubPasswords } } });
    proxy = await startFaultProxy(hub.url);
    const credentialsFile = join(dir, 'hub-login');
    await writeFile(credentialsFile, `${HUB_USER.user}:${HUB_USER.password}\n`, { mode: 0o600 });
    gate = await startGate({
      dir,
      users: { [ALICE.user]: ALICE.password },
      config: {
        mirrors: [{ repository: 'hub/**', url: proxy.url, stripPrefix: 'hub/', credentialsFile, timeout: '3s' }],
        cache: { dir: join(dir, 'cache'), maxSize: '1GiB' },
        metrics: { listen: '127.0.0.1:0' },
        access: [{ repository: '**', actions: ['pull', 'push', 'delete'], subjects: ['authenticated'] }],
      },
    });
    client = new RegistryClient(() => ({ baseUrl: gate.url, authHeader: basic(ALICE.user, ALICE.password) }));
    hubDirect = new RegistryClient(() => ({ baseUrl: hub.url, authHeader: basic(HUB_USER.user, HUB_USER.password) }));
    image = await hubDirect.pushImage('library/app', 'v1', { layers: 2 });
  });

  after(async () => {
    await gate.stop();
    await proxy.stop();
    await hub.stop();
    await removeDir(dir);
  });

  beforeEach(() => proxy.clearFaults());

  test('skopeo pulls cold, then warm: each blob is fetched from the mirrored registry once', async () => {
    for (const round of ['cold', 'warm']) {
      const out = join(dir, `pull-${round}`);
      const pulled = await skopeoCopy({
        from: dockerRef(gate.host, 'hub/library/app', 'v1'),
        to: `oci:${out}:v1`,
        src: { creds: ALICE, tlsVerify: false },
        preserveDigests: true,
      });
      assert.equal(pulled.code, 0, pulled.stderr);
      assert.equal((await readOciLayoutDigests(out, 'v1')).manifestDigest, image.digest, round);
    }
    for (const blob of image.blobs) assert.equal(proxy.count('GET', `/v2/library/app/blobs/${blob}`), 1, blob);
    assert.equal(proxy.count('GET', '/v2/hub/'), 0, 'the mirrored registry is asked under its own names');
  });

  test("the mirrored registry is asked with the mirror's credentials, never the client's", async () => {
    // alice is no user of the mirrored registry: her credentials would be refused there (401).
    const blob = randomBlob(8192);
    const digest = await hubDirect.pushBlob('library/fresh', blob);
    const reply = await client.call('GET', `/v2/hub/library/fresh/blobs/${digest}`);
    assert.equal(reply.status, 200, reply.text());
    assert.ok(reply.body.equals(blob));
    const anonymous = await new RegistryClient(() => ({ baseUrl: gate.url })).call('GET', `/v2/hub/library/fresh/blobs/${digest}`);
    assertError(anonymous, 401, 'UNAUTHORIZED');
  });

  test('with the mirrored registry refusing connections, the tag and the cached content are served stale', async () => {
    const staleBefore = await metric(gate, 'registry_gate_cache_stale_serves_total{kind="tags"}');
    await proxy.stopListening();
    try {
      const out = join(dir, 'pull-down');
      const pulled = await skopeoCopy({
        from: dockerRef(gate.host, 'hub/library/app', 'v1'),
        to: `oci:${out}:v1`,
        src: { creds: ALICE, tlsVerify: false },
        preserveDigests: true,
      });
      assert.equal(pulled.code, 0, pulled.stderr);
      assert.equal((await readOciLayoutDigests(out, 'v1')).manifestDigest, image.digest);
      assert.ok((await metric(gate, 'registry_gate_cache_stale_serves_total{kind="tags"}')) > staleBefore);

      const started = Date.now();
      const never = await client.call('GET', `/v2/hub/library/app/blobs/sha256:${'0'.repeat(64)}`);
      assertUnavailable(never);
      assert.ok(Date.now() - started < 5000, 'a digest never cached fails fast');
      assertUnavailable(await client.call('GET', '/v2/hub/library/app/manifests/never-pulled'));
    } finally {
      await proxy.listenAgain();
    }
  });

  test('a 429 from the mirrored registry: the known tag is served stale, an unknown one gets the 429', async () => {
    assert.equal((await client.call('GET', '/v2/hub/library/app/manifests/v1')).status, 200); // this client's Accept, answered once
    proxy.setFault('/manifests/', '429', ['GET', 'HEAD']);
    const staleBefore = await metric(gate, 'registry_gate_cache_stale_serves_total{kind="tags"}');
    const reply = await client.call('GET', '/v2/hub/library/app/manifests/v1');
    assert.equal(reply.status, 200, reply.text());
    assert.equal(reply.headers['docker-content-digest'], image.digest);
    assert.equal(await metric(gate, 'registry_gate_cache_stale_serves_total{kind="tags"}'), staleBefore + 1);
    assertError(await client.call('GET', '/v2/hub/library/app/manifests/v2'), 429, 'TOOMANYREQUESTS');
  });

  test('a mirrored registry that does not answer within the timeout: the known tag is served stale after it', async () => {
    assert.equal((await client.call('GET', '/v2/hub/library/app/manifests/v1')).status, 200);
    proxy.setFault('/manifests/v1', 'hold', ['HEAD']);
    const staleBefore = await metric(gate, 'registry_gate_cache_stale_serves_total{kind="tags"}');
    const started = Date.now();
    const reply = await client.call('GET', '/v2/hub/library/app/manifests/v1');
    proxy.releaseHeld();
    assert.equal(reply.status, 200, reply.text());
    assert.equal(reply.headers['docker-content-digest'], image.digest);
    assert.ok(Date.now() - started < 10_000, 'answered once the mirror timeout (3 s) passed');
    assert.equal(await metric(gate, 'registry_gate_cache_stale_serves_total{kind="tags"}'), staleBefore + 1);
  });

  test('pushes, deletes and mounts into a mirror are refused as a read-only mirror, before any body is read', async () => {
    const origin = new URL(proxy.url).origin;
    const start = await client.call('POST', '/v2/hub/library/app/blobs/uploads/');
    assertError(start, 403, 'DENIED');
    assert.match(start.text(), new RegExp(`read-only mirror of ${origin.replace(/[.]/g, '\\.')}`));
    const put = await client.call('PUT', '/v2/hub/library/app/manifests/v9', {
      body: Buffer.from('{}'),
      headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
    });
    assertError(put, 403, 'DENIED');
    assertError(await client.call('DELETE', `/v2/hub/library/app/manifests/${image.digest}`), 403, 'DENIED');
    assertError(await client.call('DELETE', `/v2/hub/library/app/blobs/${image.blobs[0] as string}`), 403, 'DENIED');
    const mount = await client.call('POST', `/v2/hub/library/app/blobs/uploads/?mount=${image.blobs[0] as string}&from=team/app`);
    assertError(mount, 403, 'DENIED');
    assert.equal(proxy.count('POST', '/v2/'), 0);
    assert.equal(proxy.count('PUT', '/v2/'), 0);
    assert.equal(proxy.count('DELETE', '/v2/'), 0);

    const pushed = await skopeoCopy({
      from: dockerRef(gate.host, 'hub/library/app', 'v1'),
      to: dockerRef(gate.host, 'hub/library/copy', 'v1'),
      src: { creds: ALICE, tlsVerify: false },
      dest: { creds: ALICE, tlsVerify: false },
      timeoutMs: 60_000,
    });
    assert.notEqual(pushed.code, 0);
    assert.match(pushed.stderr, /read-only mirror/);
  });

  test('bytes from the mirrored registry that do not match their digest are never served whole, nor kept', async () => {
    const blob = randomBlob(256 * 1024);
    const digest = await hubDirect.pushBlob('library/tampered', blob);
    proxy.setFault(digest, 'wrong-bytes');
    const tampered = await client.call('GET', `/v2/hub/library/tampered/blobs/${digest}`).catch(() => undefined);
    assert.ok(tampered === undefined || !tampered.body.equals(blob), 'the client never gets a complete body for the digest');
    proxy.clearFaults();
    const honest = await client.call('GET', `/v2/hub/library/tampered/blobs/${digest}`);
    assert.ok(honest.body.equals(blob));
    assert.equal(proxy.count('GET', `/blobs/${digest}`), 2, 'the tampered bytes were not cached');
  });

  test('the web UI marks a mirror repository as one, offers no delete, and refuses a forged one', async () => {
    const ui = new UiClient(gate.url);
    assert.ok([200, 303].includes((await ui.logIn(ALICE.user, ALICE.password)).status));
    const origin = new URL(proxy.url).origin;
    const page = await ui.get('/ui/r/hub/library/app');
    assert.equal(page.status, 200, page.body);
    assert.ok(page.body.includes(`Mirror of <code>${origin}</code>`), 'marked as a mirror');
    assert.ok(!page.body.includes('>Delete</button>'), 'no delete button');
    const manifest = await ui.get('/ui/r/hub/library/app/-/manifest/v1');
    assert.equal(manifest.status, 200, manifest.body);
    assert.ok(manifest.body.includes(`Mirror of <code>${origin}</code>`));
    assert.ok(!manifest.body.includes('>Delete</button>'));
    const search = await ui.get('/ui/?q=hub/library/app');
    assert.ok(search.body.includes(`mirror of <code>${origin}</code>`), 'an exact search finds the mirror repository');
    const forged = await ui.post('/ui/r/hub/library/app/-/delete', { reference: 'v1' }, { tokenFrom: '/ui/r/hub/library/app' });
    assert.ok(forged.status >= 400, `a delete through the UI is refused (${forged.status})`);
    assert.equal(proxy.count('DELETE', '/v2/'), 0);
  });

  test('every other name is the built-in registry, as without mirrors', async () => {
    const blob = randomBlob(4096);
    const digest = await client.pushBlob('team/app', blob);
    const reply = await client.call('GET', `/v2/team/app/blobs/${digest}`);
    assert.ok(reply.body.equals(blob));
    assert.equal(proxy.count('GET', `/blobs/${digest}`), 0);
  });
});
