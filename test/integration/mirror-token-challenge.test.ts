/**
 * A mirror of a registry that answers with token challenges, as Docker Hub does: a real
 * Distribution in token mode whose realm is a second registry-gate's `/auth/token` (a real token
 * service, the mirror's user in its htpasswd). The gateway fetches a token for each scope with
 * the mirror's credentials, keeps it, and pulls; without credentials the token it gets covers
 * nothing, and the client sees the name as unknown, never the mirrored registry's challenge.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { request } from 'undici';
import { startDistribution, type RunningDistribution } from '../helpers/distribution.js';
import { startGate, type TestGate } from '../helpers/gate.js';
import { makeOciImage, readOciLayoutDigests, type OciImage } from '../helpers/oci-image.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { RegistryClient, assertError } from '../helpers/registry-client.js';
import { dockerRef, skopeoCopy } from '../helpers/skopeo.js';

const HUB_USER = { user: 'hub-bot', password: 'hub-bot-secret-3' };
const ISSUER = 'hub-token-issuer';
const SERVICE = 'hub-registry';

async function tokensIssued(gate: TestGate): Promise<number> {
  const url = gate.gate.metricsUrl;
  assert.ok(url, 'metrics are on');
  const text = await (await request(url)).body.text();
  return text
    .split('\n')
    .filter((line) => line.startsWith('registry_gate_tokens_issued_total'))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

describe('a mirror of a registry in token mode (Docker Hub style challenges)', () => {
  let dir: string;
  let tokenService: TestGate;
  let hub: RunningDistribution;
  let gate: TestGate;
  let image: OciImage;

  before(async () => {
    dir = await makeTempDir('rg-mirror-token-');
    const keyDir = join(dir, 'hub-keys');
    tokenService = await startGate({
      dir: join(dir, 'token-service'),
      users: { [HUB_USER.user]: HUB_USER.password },
      config: {
        access: [{ repository: '**', actions: ['pull', 'push'], subjects: [`user:${HUB_USER.user}`] }],
        auth: { token: { issuer: ISSUER, service: SERVICE, keyDir } },
        metrics: { listen: '127.0.0.1:0' },
      },
    });
    hub = await startDistribution({
      dir: join(dir, 'hub'),
      auth: {
        token: {
          realm: `${tokenService.url}/auth/token`,
          service: SERVICE,
          issuer: ISSUER,
          rootcertbundle: join(keyDir, 'token-cert.pem'),
        },
      },
    });
    image = await makeOciImage(join(dir, 'image'), { layers: [2048, 100_000] });
    const pushed = await skopeoCopy({
      from: image.ref,
      to: dockerRef(hub.host, 'library/app', 'v1'),
      dest: { creds: HUB_USER, tlsVerify: false },
      preserveDigests: true,
    });
    assert.equal(pushed.code, 0, pushed.stderr);
    const credentialsFile = join(dir, 'hub-login');
    await writeFile(credentialsFile, `${HUB_USER.user}:${HUB_USER.password}\n`, { mode: 0o600 });
    gate = await startGate({
      dir: join(dir, 'gate'),
      config: {
        mirrors: [
          { repository: 'hub/**', url: hub.url, stripPrefix: 'hub/', credentialsFile },
          { repository: 'anon/**', url: hub.url, stripPrefix: 'anon/' },
        ],
        access: [{ repository: '**', actions: ['pull'], subjects: ['anonymous'] }],
      },
    });
  });

  after(async () => {
    await gate.stop();
    await hub.stop();
    await tokenService.stop();
    await removeDir(dir);
  });

  test("skopeo pulls through the mirror: tokens from the realm with the mirror's credentials, kept per scope", async () => {
    const issuedBefore = await tokensIssued(tokenService);
    for (const round of ['cold', 'warm']) {
      const out = join(dir, `pulled-${round}`);
      const pulled = await skopeoCopy({
        from: dockerRef(gate.host, 'hub/library/app', 'v1'),
        to: `oci:${out}:v1`,
        src: { noCreds: true, tlsVerify: false },
        preserveDigests: true,
      });
      assert.equal(pulled.code, 0, pulled.stderr);
      const digests = await readOciLayoutDigests(out, 'v1');
      assert.equal(digests.manifestDigest, image.manifestDigest, round);
      assert.deepEqual(digests.layerDigests, image.layerDigests, round);
    }
    // One scope (repository:library/app:pull): one token for both pulls, not one per request.
    assert.equal((await tokensIssued(tokenService)) - issuedBefore, 1);
  });

  test("without credentials the mirrored registry's refusal is an unknown name, with no challenge of its own", async () => {
    const reply = await new RegistryClient(() => ({ baseUrl: gate.url })).call('GET', '/v2/anon/library/app/manifests/v1');
    assertError(reply, 404, 'NAME_UNKNOWN');
    assert.equal(reply.headers['www-authenticate'], undefined);
    assert.ok(!reply.text().includes(tokenService.url));
  });
});
