/**
 * The clients people use, with a personal access token as the password: the docker CLI (`docker
 * login`, push, pull), skopeo and containerd's `ctr` (`images push` / `pull --user`), in Basic mode
 * and in bearer mode (where the token endpoint takes the personal token as the password and hands
 * out access tokens limited by its scopes, and no refresh token that could outlive it). After the
 * token is revoked, all three are refused.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { request } from 'undici';
import { startGate, type TestGate } from '../helpers/gate.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { makeOciImage, type OciImage } from '../helpers/oci-image.js';
import { dockerRef, skopeoCopy, skopeoInspect, type RegistryAccess } from '../helpers/skopeo.js';
import { startDockerd, type DockerResult, type RunningDockerd } from '../helpers/dockerd.js';
import { assertCtrOk, startContainerd, type RunningContainerd } from '../helpers/containerd.js';
import { UiClient } from '../helpers/ui-client.js';
import { makePersonalToken, tokenIdByName } from '../helpers/personal-tokens.js';

const PASSWORDS = { alice: 'alice-clients-pw-1' } as const;

function ok(result: DockerResult, what: string): DockerResult {
  assert.equal(result.code, 0, `${what} should succeed:\n${result.command}\n${result.stderr}`);
  return result;
}

describe('personal tokens with the docker CLI, skopeo and ctr', () => {
  let dir: string;
  let tls: TlsPair;
  let dockerd: RunningDockerd;
  let containerd: RunningContainerd;
  let image: OciImage;

  before(async () => {
    dir = await makeTempDir('rg-pat-clients-');
    tls = await makeTlsPair(join(dir, 'tls'));
    dockerd = await startDockerd();
    containerd = await startContainerd();
    image = await makeOciImage(join(dir, 'image'), { layers: [randomBytes(700), randomBytes(300)] });
    await dockerd.loadImage(image, 'local/app:1');
  });
  after(async () => {
    await containerd.stop();
    await dockerd.stop();
    await removeDir(dir);
  });

  for (const scheme of ['basic', 'bearer'] as const) {
    describe(`${scheme} mode`, () => {
      let gate: TestGate;
      let ui: UiClient;
      let token: string;
      const repository = `team-a/${scheme}`;
      const as = (password: string): RegistryAccess => ({ creds: { user: 'alice', password }, certDir: tls.caDir });

      before(async () => {
        gate = await startGate({
          dir: join(dir, scheme),
          tls,
          users: PASSWORDS,
          bcryptCost: 4,
          config: {
            groups: { 'team-a': ['alice'] },
            access: [{ repository: 'team-a/**', actions: ['pull', 'push'], subjects: ['group:team-a'] }],
            ...(scheme === 'bearer' ? { auth: { scheme: 'bearer', token: { keyDir: join(dir, scheme, 'keys') } } } : {}),
          },
        });
        ui = new UiClient(gate.url, gate.dispatcher);
        assert.equal((await ui.logIn('alice', PASSWORDS.alice)).status, 303);
        token = await makePersonalToken(ui, { name: 'cli', repositories: ['team-a/**'], actions: ['pull', 'push'] });
        await containerd.trustRegistry(gate.host, tls.caFile);
        await containerd.importImage(image, `${gate.host}/${repository}/ctr:1`);
      });
      after(async () => {
        await dockerd.logout(gate.host);
        await gate.stop();
      });

      test('docker login, push and pull with the token', async () => {
        const login = ok(await dockerd.login(gate.host, { user: 'alice', password: token }), 'docker login with the token');
        assert.match(login.stdout, /Login Succeeded/);
        ok(await dockerd.docker(['tag', 'local/app:1', `${gate.host}/${repository}/docker:1`]), 'tag');
        const pushed = ok(await dockerd.docker(['push', `${gate.host}/${repository}/docker:1`]), 'docker push');
        assert.match(pushed.stdout, /1: digest: sha256:[0-9a-f]{64}/);
        ok(await dockerd.docker(['rmi', `${gate.host}/${repository}/docker:1`]), 'rmi');
        ok(await dockerd.docker(['pull', `${gate.host}/${repository}/docker:1`]), 'docker pull');
      });

      test('skopeo copies to and from the registry with the token', async () => {
        const pushed = await skopeoCopy({
          from: image.ref,
          to: dockerRef(gate.host, `${repository}/skopeo`, '1'),
          dest: as(token),
          preserveDigests: true,
        });
        assert.equal(pushed.code, 0, pushed.stderr);
        const inspected = await skopeoInspect(dockerRef(gate.host, `${repository}/skopeo`, '1'), as(token));
        assert.equal(inspected.code, 0, inspected.stderr);
      });

      test('ctr pushes and pulls with the token', async () => {
        const ref = `${gate.host}/${repository}/ctr:1`;
        assertCtrOk(await containerd.push(ref, { user: 'alice', password: token }));
        // Another namespace holds none of the content: every blob comes through the gateway.
        assertCtrOk(await containerd.pull(ref, { user: 'alice', password: token }, { namespace: `pulled-${scheme}` }));
        assert.equal(await containerd.imageDigest(ref, { namespace: `pulled-${scheme}` }), await containerd.imageDigest(ref));
      });

      if (scheme === 'bearer')
        test('the token endpoint takes the token as a password, and gives no refresh token for it', async () => {
          const form = new URLSearchParams({
            grant_type: 'password',
            username: 'alice',
            password: token,
            service: 'registry-gate',
            scope: `repository:${repository}/x:pull,push repository:team-b/x:pull`,
            access_type: 'offline',
          });
          const grant = await request(`${gate.url}/auth/token`, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: form.toString(),
            dispatcher: gate.dispatcher,
          });
          assert.equal(grant.statusCode, 200);
          const body = (await grant.body.json()) as Record<string, unknown>;
          assert.equal(body.scope, `repository:${repository}/x:pull,push`);
          assert.equal(body.refresh_token, undefined, 'a refresh token would outlive the personal token');
        });

      test('after the token is revoked, docker, skopeo and ctr are refused', async () => {
        const revoked = await ui.post('/ui/tokens/revoke', { id: await tokenIdByName(ui, 'cli') }, { tokenFrom: '/ui/tokens' });
        assert.equal(revoked.status, 303);
        const inspected = await skopeoInspect(dockerRef(gate.host, `${repository}/skopeo`, '1'), as(token));
        assert.notEqual(inspected.code, 0, 'skopeo is refused');
        assert.match(inspected.stderr, /unauthorized|authentication required|401/i);
        ok(await dockerd.docker(['rmi', `${gate.host}/${repository}/docker:1`]), 'rmi');
        const pulled = await dockerd.docker(['pull', `${gate.host}/${repository}/docker:1`]);
        assert.notEqual(pulled.code, 0, 'docker pull with the stored, revoked token is refused');
        const login = await dockerd.login(gate.host, { user: 'alice', password: token });
        assert.notEqual(login.code, 0, 'docker login with the revoked token is refused');
        const ctrPull = await containerd.pull(
          `${gate.host}/${repository}/ctr:1`,
          { user: 'alice', password: token },
          { namespace: `revoked-${scheme}` },
        );
        assert.notEqual(ctrPull.code, 0, 'ctr pull with the revoked token is refused');
        assert.match(ctrPull.stderr, /401|unauthorized/i, ctrPull.stderr.slice(-400));
      });
    });
  }
});
