/**
 * Bearer mode, the Docker token flow, with skopeo as the client (its flow is the docker CLI's):
 * anonymous pull of what anonymous may read, authenticated push, refused push; registry-gate as the
 * token server of a Distribution in `auth: token` mode behind it; robot accounts and revocation.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { request } from 'undici';
import { startDistribution, type RunningDistribution } from '../helpers/distribution.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { makeTempDir, removeDir, freePort } from '../helpers/process.js';
import { makeOciImage, readOciLayoutDigests, type OciImage } from '../helpers/oci-image.js';
import { skopeoCopy, skopeoInspect, dockerRef } from '../helpers/skopeo.js';
import { startGate, basic, type TestGate } from '../helpers/gate.js';
import { SigningKeys } from '../../src/auth/token/keys.js';
import { createRobot, revokeRobot } from '../../src/auth/token/robots.js';
import { pollUntil } from '../helpers/wait.js';

const PUSHER = { user: 'alice', password: 'alice-secret-1' };
const READER = { user: 'bob', password: 'bob-secret-2' };
const SERVICE = 'registry-gate.test';
const rules = [
  { repository: 'public/**', actions: ['pull'], subjects: ['*'] },
  { repository: '**', actions: ['pull'], subjects: ['authenticated'] },
  { repository: '**', actions: ['pull', 'push', 'delete'], subjects: ['group:pushers'] },
  { repository: 'ci/**', actions: ['pull', 'push'], subjects: ['user:robot$ci'] },
];

async function statusOf(gate: TestGate, path: string, authorization?: string): Promise<{ status: number; challenge: string | undefined }> {
  const accept = 'application/vnd.oci.image.manifest.v1+json';
  const response = await request(`${gate.url}${path}`, {
    dispatcher: gate.dispatcher,
    headers: authorization ? { authorization, accept } : { accept },
  });
  await response.body.dump();
  return { status: response.statusCode, challenge: response.headers['www-authenticate'] as string | undefined };
}

for (const backend of ['built-in registry', 'Distribution in token mode'] as const) {
  describe(`bearer mode in front of the ${backend}`, () => {
    let dir: string;
    let tls: TlsPair;
    let distribution: RunningDistribution | undefined;
    let gate: TestGate;
    let image: OciImage;
    let robotSecret: string;

    before(async () => {
      dir = await makeTempDir('rg-bearer-');
      tls = await makeTlsPair(join(dir, 'tls'));
      const keyDir = join(dir, 'keys');
      const robots = join(dir, 'robots.json');
      robotSecret = (await createRobot(robots, { name: 'ci', scopes: ['repository:ci/*:pull,push'], expires: null })).secret;
      const port = await freePort();
      const config: Record<string, unknown> = {
        listen: `127.0.0.1:${port}`,
        groups: { pushers: [PUSHER.user] },
        access: rules,
        auth: { scheme: 'bearer', token: { service: SERVICE, issuer: 'registry-gate-test', keyDir, robots } },
      };
      if (backend === 'Distribution in token mode') {
        // The signing key exists before Distribution starts, so it can load the certificate bundle.
        const keys = await SigningKeys.open({ dir: keyDir, algorithm: 'ES256' });
        await keys.close();
        distribution = await startDistribution({
          dir: join(dir, 'distribution'),
          auth: {
            token: {
              realm: `https://127.0.0.1:${port}/auth/token`,
              service: SERVICE,
              issuer: 'registry-gate-test',
              rootcertbundle: keys.certBundleFile,
            },
          },
        });
        config.upstream = { url: distribution.url };
      }
      gate = await startGate({ dir, tls, users: { [PUSHER.user]: PUSHER.password, [READER.user]: READER.password }, config });
      image = await makeOciImage(join(dir, 'image'), { layers: [4096, 100_000] });
    });

    after(async () => {
      await gate.stop();
      await distribution?.stop();
      await removeDir(dir);
    });

    test('requests without a token are challenged with the token realm, service and the scope they need', async () => {
      const base = await statusOf(gate, '/v2/');
      assert.equal(base.status, 401);
      assert.equal(base.challenge, `Bearer realm="https://${gate.host}/auth/token",service="${SERVICE}"`);
      const push = await request(`${gate.url}/v2/team/app/blobs/uploads/`, { method: 'POST', dispatcher: gate.dispatcher });
      await push.body.dump();
      assert.equal(push.statusCode, 401);
      assert.match(String(push.headers['www-authenticate']), /scope="repository:team\/app:pull,push"/);
      const pull = await statusOf(gate, '/v2/team/app/manifests/latest');
      assert.match(pull.challenge ?? '', /scope="repository:team\/app:pull"/);
    });

    test('authenticated push, anonymous pull of a public repository, refused push', async () => {
      const pushed = await skopeoCopy({
        from: image.ref,
        to: dockerRef(gate.host, 'public/base', 'v1'),
        dest: { creds: PUSHER, certDir: tls.caDir },
        preserveDigests: true,
      });
      assert.equal(pushed.code, 0, pushed.stderr);
      const out = join(dir, 'anonymous-pull');
      const pulled = await skopeoCopy({
        from: dockerRef(gate.host, 'public/base', 'v1'),
        to: `oci:${out}:v1`,
        src: { noCreds: true, certDir: tls.caDir },
        ociAcceptUncompressed: true,
      });
      assert.equal(pulled.code, 0, pulled.stderr);
      assert.deepEqual((await readOciLayoutDigests(out, 'v1')).layerDigests, image.layerDigests);

      const anonymousPrivate = await skopeoInspect(dockerRef(gate.host, 'team/app', 'v1'), { noCreds: true, certDir: tls.caDir });
      assert.notEqual(anonymousPrivate.code, 0, 'anonymous may not read outside public/');
      const refused = await skopeoCopy({
        from: image.ref,
        to: dockerRef(gate.host, 'public/base', 'bob'),
        dest: { creds: READER, certDir: tls.caDir },
      });
      assert.notEqual(refused.code, 0, 'a reader cannot push');
      assert.doesNotMatch(refused.stderr, new RegExp(READER.password));
    });

    test('a token covers only what it was granted; tampered and unsigned tokens are refused', async () => {
      // The reader asks for pull and push and gets pull only: a partial grant is not an error.
      const partial = await request(`${gate.url}/auth/token?service=${SERVICE}&scope=repository:public/base:pull,push`, {
        dispatcher: gate.dispatcher,
        headers: { authorization: basic(READER.user, READER.password) },
      });
      assert.equal(partial.statusCode, 200);
      assert.equal(((await partial.body.json()) as { scope: string }).scope, 'repository:public/base:pull');
      // A pusher asks for pull only: the policy would allow a push, the token does not.
      const response = await request(`${gate.url}/auth/token?service=${SERVICE}&scope=repository:public/base:pull`, {
        dispatcher: gate.dispatcher,
        headers: { authorization: basic(PUSHER.user, PUSHER.password) },
      });
      assert.equal(response.statusCode, 200);
      const { token, access_token, expires_in } = (await response.body.json()) as {
        token: string;
        access_token: string;
        expires_in: number;
      };
      assert.equal(token, access_token);
      assert.ok(expires_in >= 60);
      const bearerHeader = `Bearer ${token}`;
      assert.equal((await statusOf(gate, '/v2/public/base/manifests/v1', bearerHeader)).status, 200, 'the granted pull works');
      const upload = await request(`${gate.url}/v2/public/base/blobs/uploads/`, {
        method: 'POST',
        dispatcher: gate.dispatcher,
        headers: { authorization: bearerHeader },
      });
      await upload.body.dump();
      assert.equal(upload.statusCode, 401, 'push is not in the token');
      assert.match(String(upload.headers['www-authenticate']), /error="insufficient_scope"/);

      const [header, payload, signature] = token.split('.') as [string, string, string];
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
      claims.access = [{ type: 'repository', name: 'public/base', actions: ['pull', 'push'] }];
      const tampered = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`;
      assert.equal((await statusOf(gate, '/v2/public/base/manifests/v1', `Bearer ${tampered}`)).status, 401);
      const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${payload}.`;
      assert.equal((await statusOf(gate, '/v2/public/base/manifests/v1', `Bearer ${none}`)).status, 401);
    });

    test('the OAuth2 password grant carries the groups a Basic login gets (config groups)', async () => {
      const response = await request(`${gate.url}/auth/token`, {
        method: 'POST',
        dispatcher: gate.dispatcher,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'password',
          username: PUSHER.user,
          password: PUSHER.password,
          service: SERVICE,
          client_id: 'tests',
          scope: 'repository:team/app:pull,push',
        }).toString(),
      });
      assert.equal(response.statusCode, 200);
      assert.equal(
        ((await response.body.json()) as { scope: string }).scope,
        'repository:team/app:pull,push',
        'alice pushes as a member of pushers',
      );
    });

    test('a robot pushes within its scope, and stops working within 2 s of revocation', async () => {
      const robot = { user: 'robot$ci', password: robotSecret };
      const pushed = await skopeoCopy({
        from: image.ref,
        to: dockerRef(gate.host, 'ci/app', 'build-1'),
        dest: { creds: robot, certDir: tls.caDir },
        preserveDigests: true,
      });
      assert.equal(pushed.code, 0, pushed.stderr);
      const outside = await skopeoCopy({
        from: image.ref,
        to: dockerRef(gate.host, 'team/app', 'robot'),
        dest: { creds: robot, certDir: tls.caDir },
      });
      assert.notEqual(outside.code, 0, 'outside its scope');
      const tokenUrl = `${gate.url}/auth/token?service=${SERVICE}&scope=repository:ci/app:pull`;
      const before = await request(tokenUrl, {
        dispatcher: gate.dispatcher,
        headers: { authorization: basic(robot.user, robot.password) },
      });
      await before.body.dump();
      assert.equal(before.statusCode, 200);
      assert.ok(await revokeRobot(join(dir, 'robots.json'), 'ci'));
      const status = await pollUntil(
        async () => {
          const after = await request(tokenUrl, {
            dispatcher: gate.dispatcher,
            headers: { authorization: basic(robot.user, robot.password) },
          });
          await after.body.dump();
          return after.statusCode;
        },
        (answer) => answer !== 200,
        { timeoutMs: 2500, intervalMs: 100 },
      );
      assert.equal(status, 401, 'a revoked robot gets no token');
    });
  });
}
