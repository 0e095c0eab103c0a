/**
 * Client credentials never travel upstream.
 *
 * The attack (a leak, not a break-in): in bearer mode in front of an upstream, the gateway passed
 * the client's Authorization header on, so a client that sent Basic credentials had its password
 * handed to the upstream registry (and to whatever logs requests there). Now no client credential
 * is forwarded at all: an upstream that checks tokens (Distribution `auth: token` trusting the
 * gateway's key) gets a short-lived token the gateway signs for exactly what the request needs, and
 * an upstream that checks nothing gets no Authorization.
 *
 * The same mechanism makes Basic mode work in front of a token-mode Distribution, with skopeo over
 * TLS: pushes, pulls, the filtered catalog, and the protected-tag check (which asks the upstream
 * where a tag points, and so needs a token of its own).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { request } from 'undici';
import { basic, startGate, type TestGate } from '../helpers/gate.js';
import { startHeaderCapture, type CannedResponse, type HeaderCapture } from '../helpers/header-capture.js';
import { freePort, makeTempDir, removeDir } from '../helpers/process.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { startDistribution, type RunningDistribution } from '../helpers/distribution.js';
import { SigningKeys } from '../../src/auth/token/keys.js';
import { makeOciImage, readOciLayoutDigests, type OciImage } from '../helpers/oci-image.js';
import { assertSkopeoOk, dockerRef, skopeoCopy, skopeoInspect } from '../helpers/skopeo.js';
import { RegistryClient } from '../helpers/registry-client.js';
import { UiClient, listedRepositories } from '../helpers/ui-client.js';

const ALICE = { user: 'alice', password: 'alice-secret-pw-1' };
const SERVICE = 'registry-gate.test';
const ISSUER = 'registry-gate-test';
const RULES = [
  { repository: 'team/**', actions: ['pull', 'push', 'delete'], subjects: ['authenticated'] },
  { repository: 'release/**', actions: ['pull', 'push'], subjects: ['authenticated'], protectedTags: ['v*'] },
];

/** A recording upstream that answers like a token-mode registry: 401 with a Bearer challenge without a token. */
function tokenModeCapture(): Promise<HeaderCapture> {
  return startHeaderCapture({
    respond: (captured): CannedResponse =>
      captured.headers.authorization
        ? { status: captured.method === 'POST' ? 202 : 200, headers: { 'Content-Type': 'application/json' }, body: '{}' }
        : { status: 401, headers: { 'WWW-Authenticate': `Bearer realm="http://127.0.0.1:1/auth/token",service="${SERVICE}"` }, body: '{}' },
  });
}

function payloadOf(authorization: string): Record<string, unknown> {
  const token = authorization.replace(/^Bearer /, '');
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
}

for (const scheme of ['basic', 'bearer'] as const) {
  describe(`${scheme} mode: no client credential reaches the upstream`, () => {
    let dir: string;
    let tls: TlsPair;
    let gate: TestGate;
    let capture: HeaderCapture;

    before(async () => {
      dir = await makeTempDir();
      tls = await makeTlsPair(join(dir, 'tls'));
      capture = await tokenModeCapture();
      gate = await startGate({
        dir,
        tls,
        users: { [ALICE.user]: ALICE.password },
        config: {
          access: RULES,
          upstream: { url: capture.url },
          auth: { scheme, token: { service: SERVICE, issuer: ISSUER, keyDir: join(dir, 'keys') } },
        },
      });
    });

    after(async () => {
      await gate.stop();
      await capture.stop();
      if (dir) await removeDir(dir);
    });

    test('Basic credentials on /v2/ requests: the upstream sees the gateway token, never the password', async () => {
      capture.clear();
      const response = await request(`${gate.url}/v2/team/app/tags/list`, {
        dispatcher: gate.dispatcher,
        headers: { authorization: basic(ALICE.user, ALICE.password) },
      });
      await response.body.dump();
      const forwarded = capture.requests.filter((captured) => captured.url !== '/v2/');
      // Bearer mode takes Basic credentials on /v2/ too (clients that never ask for a token).
      assert.equal(response.statusCode, 200);
      assert.equal(forwarded.length, 1);
      const authorization = String(forwarded[0]?.headers.authorization);
      assert.match(authorization, /^Bearer /);
      const claims = payloadOf(authorization);
      assert.equal(claims.sub, ALICE.user);
      assert.equal(claims.aud, SERVICE);
      assert.deepEqual(claims.access, [{ type: 'repository', name: 'team/app', actions: ['pull'] }], 'exactly what the request needs');
      for (const captured of capture.requests) {
        const everything = JSON.stringify(captured.rawHeaders);
        assert.ok(
          !everything.includes(ALICE.password) && !everything.includes(Buffer.from(`${ALICE.user}:${ALICE.password}`).toString('base64')),
          'no password upstream',
        );
      }
    });

    // Only bearer mode takes tokens on /v2/.
    if (scheme === 'bearer')
      test("a client's token is not forwarded either: the upstream gets the gateway's own", async () => {
        const tokenResponse = await request(`${gate.url}/auth/token?service=${SERVICE}&scope=repository:team/app:pull,push`, {
          dispatcher: gate.dispatcher,
          headers: { authorization: basic(ALICE.user, ALICE.password) },
        });
        const { token } = (await tokenResponse.body.json()) as { token: string };
        capture.clear();
        const response = await request(`${gate.url}/v2/team/app/tags/list`, {
          dispatcher: gate.dispatcher,
          headers: { authorization: `Bearer ${token}` },
        });
        await response.body.dump();
        assert.equal(response.statusCode, 200);
        const forwarded = capture.requests.filter((captured) => captured.url !== '/v2/');
        const authorization = String(forwarded[0]?.headers.authorization);
        assert.notEqual(authorization, `Bearer ${token}`, 'the client token stays at the gateway');
        assert.deepEqual(payloadOf(authorization).access, [{ type: 'repository', name: 'team/app', actions: ['pull'] }]);
      });
  });
}

describe('an upstream that checks nothing gets no Authorization at all', () => {
  let dir: string;
  let gate: TestGate;
  let capture: HeaderCapture;

  before(async () => {
    dir = await makeTempDir();
    capture = await startHeaderCapture({ respond: () => ({ status: 200, headers: { 'Content-Type': 'application/json' }, body: '{}' }) });
    gate = await startGate({ dir, users: { [ALICE.user]: ALICE.password }, config: { access: RULES, upstream: { url: capture.url } } });
  });

  after(async () => {
    await gate.stop();
    await capture.stop();
    if (dir) await removeDir(dir);
  });

  test('Basic credentials stay at the gateway', async () => {
    const response = await request(`${gate.url}/v2/team/app/tags/list`, { headers: { authorization: basic(ALICE.user, ALICE.password) } });
    await response.body.dump();
    assert.equal(response.statusCode, 200);
    assert.ok(capture.requests.length >= 1);
    for (const captured of capture.requests) assert.equal(captured.headers.authorization, undefined, `${captured.method} ${captured.url}`);
  });
});

describe('Basic mode in front of Distribution in token mode, with skopeo over TLS', () => {
  let dir: string;
  let tls: TlsPair;
  let distribution: RunningDistribution;
  let gate: TestGate;
  let image: OciImage;
  let other: OciImage;

  before(async () => {
    dir = await makeTempDir();
    tls = await makeTlsPair(join(dir, 'tls'));
    const keyDir = join(dir, 'keys');
    const keys = await SigningKeys.open({ dir: keyDir, algorithm: 'ES256' });
    await keys.close();
    const port = await freePort();
    distribution = await startDistribution({
      dir: join(dir, 'distribution'),
      auth: {
        token: { realm: `https://127.0.0.1:${port}/auth/token`, service: SERVICE, issuer: ISSUER, rootcertbundle: keys.certBundleFile },
      },
    });
    gate = await startGate({
      dir,
      tls,
      users: { [ALICE.user]: ALICE.password },
      config: {
        listen: `127.0.0.1:${port}`,
        access: RULES,
        upstream: { url: distribution.url },
        auth: { token: { service: SERVICE, issuer: ISSUER, keyDir } },
      },
    });
    image = await makeOciImage(join(dir, 'image'), { layers: [4096, 50_000] });
    other = await makeOciImage(join(dir, 'other'), { layers: [2048] });
  });

  after(async () => {
    await gate.stop();
    await distribution.stop();
    if (dir) await removeDir(dir);
  });

  const access = () => ({ creds: ALICE, certDir: tls.caDir });

  test('skopeo pushes and pulls through the gateway, which authenticates to Distribution with its own tokens', async () => {
    assertSkopeoOk(
      await skopeoCopy({ from: image.ref, to: dockerRef(gate.host, 'team/app', 'v1'), dest: access(), preserveDigests: true }),
    );
    assertSkopeoOk(
      await skopeoCopy({
        from: dockerRef(gate.host, 'team/app', 'v1'),
        to: `oci:${join(dir, 'pulled')}:v1`,
        src: access(),
        ociAcceptUncompressed: true,
      }),
    );
    assert.equal((await readOciLayoutDigests(join(dir, 'pulled'), 'v1')).manifestDigest, image.manifestDigest);
    assertSkopeoOk(await skopeoInspect(dockerRef(gate.host, 'team/app', 'v1'), access()));
  });

  test('the catalog and a protected tag work against the token-mode upstream', async () => {
    const alice = new RegistryClient(() => ({
      baseUrl: gate.url,
      dispatcher: gate.dispatcher,
      authHeader: basic(ALICE.user, ALICE.password),
    }));
    const catalog = await alice.call('GET', '/v2/_catalog');
    assert.equal(catalog.status, 200, catalog.text());
    assert.ok(catalog.json<{ repositories: string[] }>().repositories.includes('team/app'));
    assertSkopeoOk(
      await skopeoCopy({ from: image.ref, to: dockerRef(gate.host, 'release/app', 'v1'), dest: access(), preserveDigests: true }),
    );
    // Re-pushing the same image to the protected tag is not a move; another image is refused, not a 502.
    assertSkopeoOk(
      await skopeoCopy({ from: image.ref, to: dockerRef(gate.host, 'release/app', 'v1'), dest: access(), preserveDigests: true }),
    );
    const moved = await skopeoCopy({
      from: other.ref,
      to: dockerRef(gate.host, 'release/app', 'v1'),
      dest: access(),
      preserveDigests: true,
    });
    assert.notEqual(moved.code, 0, 'moving a protected tag is refused');
    assert.match(moved.stderr, /denied|protected/i);
    const head = await alice.call('HEAD', '/v2/release/app/manifests/v1');
    assert.equal(head.headers['docker-content-digest'], image.manifestDigest);
  });

  test('the web UI reads the token-mode upstream with the gateway’s own tokens: list, tags, layers, delete', async () => {
    const ui = new UiClient(gate.url, gate.dispatcher);
    assert.equal((await ui.logIn(ALICE.user, ALICE.password)).status, 303);
    assert.deepEqual(listedRepositories((await ui.get('/ui/')).body), ['release/app', 'team/app']);
    const tags = await ui.get('/ui/r/team/app');
    assert.equal(tags.status, 200, tags.body);
    assert.match(tags.body, /href="\/ui\/r\/team\/app\/-\/manifest\/v1">v1</);
    assert.match(tags.body, /title="sha256:[0-9a-f]{64}">sha256:/, 'its digest, read from Distribution');
    const manifest = await ui.get('/ui/r/team/app/-/manifest/v1');
    assert.equal(manifest.status, 200, manifest.body);
    assert.match(manifest.body, /2 layers, [\d.]+ KiB in all/);
    assert.match(manifest.body, /registry-gate test layer 1/, 'the config blob, read from Distribution');
    const deleted = await ui.post('/ui/r/team/app/-/delete', { reference: image.manifestDigest }, { tokenFrom: '/ui/r/team/app' });
    assert.equal(deleted.status, 303, deleted.body);
    const alice = new RegistryClient(() => ({
      baseUrl: gate.url,
      dispatcher: gate.dispatcher,
      authHeader: basic(ALICE.user, ALICE.password),
    }));
    assert.equal((await alice.call('HEAD', '/v2/team/app/manifests/v1')).status, 404, 'deleted in Distribution, with a delete token');
  });
});
