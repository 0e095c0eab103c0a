/**
 * The docker CLI with a federated token, as a CI job uses it: `docker login -u ci --password-stdin`
 * with the job's GitHub-shaped ID token, then `docker push` into the job's own namespace
 * (`ci/${claims.repository}/**`) and `docker pull` of it back, in Basic mode and in bearer mode
 * (where dockerd trades the token at /auth/token). A push into another repository's namespace is
 * refused, and an expired token does not log in.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { TestGate } from '../helpers/gate.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { makeOciImage } from '../helpers/oci-image.js';
import { startDockerd, type DockerResult, type RunningDockerd } from '../helpers/dockerd.js';
import { AUDIENCE, startFederatedGate, startIssuers, type Issuers } from '../helpers/federation.js';

function ok(result: DockerResult, what: string): DockerResult {
  assert.equal(result.code, 0, `${what} should succeed:\n${result.command}\n${result.stderr}`);
  return result;
}

describe('the docker CLI with federated tokens', () => {
  let dir: string;
  let tls: TlsPair;
  let issuers: Issuers;
  let dockerd: RunningDockerd;

  before(async () => {
    dir = await makeTempDir('rg-federation-docker-');
    tls = await makeTlsPair(join(dir, 'tls'));
    issuers = await startIssuers(join(dir, 'issuers'));
    dockerd = await startDockerd();
    await dockerd.loadImage(await makeOciImage(join(dir, 'image'), { layers: [randomBytes(700)] }), 'local/app:1');
  });

  after(async () => {
    await dockerd.stop();
    await issuers.stop();
    await removeDir(dir);
  });

  for (const scheme of ['basic', 'bearer'] as const) {
    describe(`${scheme} mode`, () => {
      let gate: TestGate;
      const docker = (...args: string[]) => dockerd.docker(args);

      before(async () => {
        const bearer = { scheme: 'bearer', token: { service: 'registry.test', keyDir: join(dir, scheme, 'keys') } };
        gate = await startFederatedGate(join(dir, scheme), tls, issuers, scheme === 'bearer' ? { auth: bearer } : {});
      });

      after(async () => {
        await dockerd.logout(gate.host);
        await gate.stop();
      });

      test("docker login with the job's ID token, push to its own namespace, pull back; another namespace is refused", async () => {
        const token = await issuers.github.github('octo-org/app', AUDIENCE);
        ok(await dockerd.login(gate.host, { user: 'ci', password: token }), 'docker login with the ID token');
        const own = `${gate.host}/ci/octo-org/app/web:${scheme}`;
        ok(await docker('tag', 'local/app:1', own), 'tag');
        ok(await docker('push', own), 'push to the own namespace');
        ok(await docker('rmi', own), 'rmi');
        ok(await docker('pull', own), 'pull it back');
        const others = `${gate.host}/ci/octo-org/other/web:${scheme}`;
        ok(await docker('tag', 'local/app:1', others), 'tag');
        const refused = await docker('push', others);
        assert.notEqual(refused.code, 0, 'a push into octo-org/other');
        assert.match(refused.stderr, /denied|unauthorized|forbidden/i);
      });

      test('an expired token does not log in', async () => {
        const expired = await issuers.github.github('octo-org/app', AUDIENCE, {}, { expiresIn: -120, issuedAt: -600 });
        const login = await dockerd.login(gate.host, { user: 'ci', password: expired });
        assert.notEqual(login.code, 0);
        assert.ok(!login.stderr.includes(expired) && !login.stdout.includes(expired));
      });
    });
  }
});
