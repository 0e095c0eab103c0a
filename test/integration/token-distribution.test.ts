/**
 * The token service with a real CNCF Distribution registry (Debian's docker-registry 2.8) in token
 * auth mode, driven by skopeo: Distribution sends skopeo to our token endpoint (realm), skopeo logs
 * in there with Basic credentials checked against an htpasswd file, and Distribution verifies our
 * tokens against token-cert.pem (rootcertbundle) through the x5c header. Pushes and pulls work for
 * the users the policy allows; an anonymous or pull-only push is refused by Distribution itself,
 * because the token we issued does not cover it. A robot account is limited to its scopes. Both
 * ES256 and RS256 keys are accepted by Distribution.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { request } from 'undici';
import type { SigningAlgorithm } from '../../src/auth/token/index.js';
import { createRobot } from '../../src/auth/token/robots.js';
import { startDistribution, type RunningDistribution } from '../helpers/distribution.js';
import { startGate, type TestGate } from '../helpers/gate.js';
import { makeOciImage, readOciLayoutDigests, type OciImage } from '../helpers/oci-image.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { dockerRef, skopeoCopy, skopeoInspect } from '../helpers/skopeo.js';

const PUSHER = { user: 'alice', password: 'alice-secret-1' };
const READER = { user: 'bob', password: 'bob-secret-2' };
const ISSUER = 'registry-gate-test-issuer';
const SERVICE = 'distribution-under-test';
const PLAIN_HTTP = { tlsVerify: false } as const;

interface TokenSetup {
  gate: TestGate;
  registry: RunningDistribution;
  realm: string;
  robotSecret: string;
  close(): Promise<void>;
}

/**
 * registry-gate started from its config with the token service on (basic scheme, so only its
 * /auth/token is used), and a Distribution that trusts its signing certificate; both torn down by close().
 */
async function startTokenAuth(dir: string, algorithm: SigningAlgorithm): Promise<TokenSetup> {
  const keyDir = join(dir, 'keys');
  const robots = join(dir, 'robots.json');
  const { secret: robotSecret } = await createRobot(robots, { name: 'ci', scopes: ['repository:ci/*:pull,push'], expires: null });
  const gate = await startGate({
    dir,
    users: { [PUSHER.user]: PUSHER.password, [READER.user]: READER.password },
    config: {
      groups: { pushers: [PUSHER.user] },
      access: [
        { repository: '**', actions: ['pull'], subjects: ['authenticated'] },
        { repository: '**', actions: ['pull', 'push', 'delete'], subjects: ['group:pushers'] },
        { repository: '**', actions: ['pull', 'push'], subjects: ['user:robot$ci'] },
      ],
      auth: { token: { issuer: ISSUER, service: SERVICE, keyDir, algorithm, robots } },
    },
  });
  const realm = `${gate.url}/auth/token`;
  const registry = await startDistribution({
    dir: join(dir, 'distribution'),
    auth: { token: { realm, service: SERVICE, issuer: ISSUER, rootcertbundle: join(keyDir, 'token-cert.pem') } },
  }).catch(async (error: unknown) => {
    await gate.stop();
    throw error;
  });
  return {
    gate,
    registry,
    realm,
    robotSecret,
    async close() {
      await registry.stop();
      await gate.stop();
    },
  };
}

for (const algorithm of ['ES256', 'RS256'] as const) {
  describe(`Distribution 2.8 trusts our ${algorithm} tokens`, () => {
    let dir: string;
    let setup: TokenSetup;
    let image: OciImage;

    before(async () => {
      dir = await makeTempDir(`rg-token-distribution-${algorithm}-`);
      setup = await startTokenAuth(dir, algorithm);
      image = await makeOciImage(join(dir, 'image'), { layers: [2048, 200_000] });
    });

    after(async () => {
      await setup.close();
      await removeDir(dir);
    });

    test('Distribution challenges with our realm, service and the scope', async () => {
      const res = await request(`${setup.registry.url}/v2/team/app/manifests/latest`);
      await res.body.dump();
      assert.equal(res.statusCode, 401);
      assert.equal(res.headers['www-authenticate'], `Bearer realm="${setup.realm}",service="${SERVICE}",scope="repository:team/app:pull"`);
    });

    test('a pusher pushes with credentials and a reader pulls back identical digests', async () => {
      const pushed = await skopeoCopy({
        from: image.ref,
        to: dockerRef(setup.registry.host, 'team/app', 'v1'),
        dest: { creds: PUSHER, ...PLAIN_HTTP },
        preserveDigests: true,
      });
      assert.equal(pushed.code, 0, pushed.stderr);
      const out = join(dir, 'pulled');
      const pulled = await skopeoCopy({
        from: dockerRef(setup.registry.host, 'team/app', 'v1'),
        to: `oci:${out}:v1`,
        src: { creds: READER, ...PLAIN_HTTP },
        ociAcceptUncompressed: true,
      });
      assert.equal(pulled.code, 0, pulled.stderr);
      const digests = await readOciLayoutDigests(out, 'v1');
      assert.equal(digests.manifestDigest, image.manifestDigest);
      assert.deepEqual(digests.layerDigests, image.layerDigests);
    });

    test('an anonymous push, a pull-only push and a wrong password are refused', async () => {
      const anonymous = await skopeoCopy({
        from: image.ref,
        to: dockerRef(setup.registry.host, 'team/anon', 'v1'),
        dest: { noCreds: true, ...PLAIN_HTTP },
      });
      assert.notEqual(anonymous.code, 0);
      assert.match(
        anonymous.stderr,
        /requested access to the resource is denied/,
        'refused by Distribution: the token does not cover push',
      );
      const reader = await skopeoCopy({
        from: image.ref,
        to: dockerRef(setup.registry.host, 'team/bob', 'v1'),
        dest: { creds: READER, ...PLAIN_HTTP },
      });
      assert.notEqual(reader.code, 0);
      assert.match(reader.stderr, /requested access to the resource is denied/);
      const wrong = await skopeoInspect(dockerRef(setup.registry.host, 'team/app', 'v1'), {
        creds: { user: PUSHER.user, password: 'wrong' },
        ...PLAIN_HTTP,
      });
      assert.notEqual(wrong.code, 0);
      assert.match(wrong.stderr, /unable to retrieve auth token.*unauthorized/, 'refused by the token endpoint');
      const anonymousPull = await skopeoInspect(dockerRef(setup.registry.host, 'team/app', 'v1'), { noCreds: true, ...PLAIN_HTTP });
      assert.notEqual(anonymousPull.code, 0, 'the policy gives anonymous callers nothing');
    });

    test('a robot pushes within its scopes and nowhere else', async () => {
      const robot = { user: 'robot$ci', password: setup.robotSecret };
      const inside = await skopeoCopy({
        from: image.ref,
        to: dockerRef(setup.registry.host, 'ci/build', 'v1'),
        dest: { creds: robot, ...PLAIN_HTTP },
      });
      assert.equal(inside.code, 0, inside.stderr);
      const outside = await skopeoCopy({
        from: image.ref,
        to: dockerRef(setup.registry.host, 'team/robot', 'v1'),
        dest: { creds: robot, ...PLAIN_HTTP },
      });
      assert.notEqual(outside.code, 0);
      assert.match(outside.stderr, /requested access to the resource is denied/);
      const read = await skopeoInspect(dockerRef(setup.registry.host, 'team/app', 'v1'), { creds: robot, ...PLAIN_HTTP });
      assert.notEqual(read.code, 0, 'its scopes do not include team/*');
    });
  });
}
