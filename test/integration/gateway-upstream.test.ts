/**
 * The nginx recipe, done by registry-gate in front of the real CNCF Distribution registry
 * (Debian's docker-registry), driven by skopeo over verified TLS.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFile, writeFile, appendFile } from 'node:fs/promises';
import { request } from 'undici';
import { startDistribution, type RunningDistribution } from '../helpers/distribution.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { makeTempDir, removeDir, runProcess } from '../helpers/process.js';
import { makeOciImage, readOciLayoutDigests, type OciImage } from '../helpers/oci-image.js';
import { skopeoCopy, skopeoInspect, dockerRef } from '../helpers/skopeo.js';
import { startGate, basic, type TestGate } from '../helpers/gate.js';
import { pollUntil } from '../helpers/wait.js';

const PUSHER = { user: 'alice', password: 'alice-secret-1' };
const READER = { user: 'bob', password: 'bob-secret-2' };

describe('registry-gate in front of Distribution, the recipe end to end', () => {
  let dir: string;
  let tls: TlsPair;
  let registry: RunningDistribution;
  let gate: TestGate;
  let image: OciImage;

  before(async () => {
    dir = await makeTempDir('rg-upstream-');
    tls = await makeTlsPair(join(dir, 'tls'));
    registry = await startDistribution({ dir: join(dir, 'distribution') });
    gate = await startGate({
      dir,
      tls,
      users: { [PUSHER.user]: PUSHER.password, [READER.user]: READER.password },
      config: {
        upstream: { url: registry.url },
        groups: { pushers: [PUSHER.user] },
        access: [
          { repository: '**', actions: ['pull'], subjects: ['authenticated'] },
          { repository: '**', actions: ['pull', 'push', 'delete'], subjects: ['group:pushers'] },
        ],
      },
    });
    image = await makeOciImage(join(dir, 'image'), { layers: [2048, 300_000, 5_000_000] });
  });

  after(async () => {
    await gate.stop();
    await registry.stop();
    await removeDir(dir);
  });

  test('the recipe walk-through: log in, push as a pusher, pull back with identical digests', async () => {
    const login = await request(`${gate.url}/v2/`, {
      dispatcher: gate.dispatcher,
      headers: { authorization: basic(PUSHER.user, PUSHER.password) },
    });
    assert.equal(login.statusCode, 200);
    assert.deepEqual(await login.body.json(), {});

    const pushed = await skopeoCopy({
      from: image.ref,
      to: dockerRef(gate.host, 'test', 'latest'),
      dest: { creds: PUSHER, certDir: tls.caDir },
      preserveDigests: true,
    });
    assert.equal(pushed.code, 0, pushed.stderr);

    const out = join(dir, 'pulled');
    const pulled = await skopeoCopy({
      from: dockerRef(gate.host, 'test', 'latest'),
      to: `oci:${out}:latest`,
      src: { creds: READER, certDir: tls.caDir },
      ociAcceptUncompressed: true,
    });
    assert.equal(pulled.code, 0, pulled.stderr);
    const digests = await readOciLayoutDigests(out, 'latest');
    assert.equal(digests.manifestDigest, image.manifestDigest);
    assert.deepEqual(digests.layerDigests, image.layerDigests);
    assert.equal(digests.configDigest, image.configDigest);
  });

  test('a Docker schema 2 push works through the gateway too', async () => {
    const pushed = await skopeoCopy({
      from: image.ref,
      to: dockerRef(gate.host, 'team/docker-format', 'v1'),
      dest: { creds: PUSHER, certDir: tls.caDir },
      format: 'v2s2',
    });
    assert.equal(pushed.code, 0, pushed.stderr);
    const inspected = await skopeoInspect(dockerRef(gate.host, 'team/docker-format', 'v1'), {
      creds: READER,
      certDir: tls.caDir,
      raw: true,
    });
    assert.equal(inspected.code, 0, inspected.stderr);
    assert.equal(
      (JSON.parse(inspected.stdout) as { mediaType?: string }).mediaType,
      'application/vnd.docker.distribution.manifest.v2+json',
    );
  });

  test('a pull-only user cannot push', async () => {
    const pushed = await skopeoCopy({
      from: image.ref,
      to: dockerRef(gate.host, 'test', 'bob'),
      dest: { creds: READER, certDir: tls.caDir },
    });
    assert.notEqual(pushed.code, 0);
    assert.doesNotMatch(pushed.stderr + pushed.stdout, new RegExp(READER.password));
    const direct = await request(`${gate.url}/v2/test/blobs/uploads/`, {
      method: 'POST',
      dispatcher: gate.dispatcher,
      headers: { authorization: basic(READER.user, READER.password) },
    });
    assert.equal(direct.statusCode, 403);
    assert.equal(((await direct.body.json()) as { errors: Array<{ code: string }> }).errors[0]?.code, 'DENIED');
    const tagsAfter = await request(`${gate.url}/v2/test/tags/list`, {
      dispatcher: gate.dispatcher,
      headers: { authorization: basic(PUSHER.user, PUSHER.password) },
    });
    assert.deepEqual(((await tagsAfter.body.json()) as { tags: string[] }).tags, ['latest']);
  });

  test('no credentials, a wrong password, an unknown user and malformed headers get the same challenge', async () => {
    const headers = [
      undefined,
      basic(PUSHER.user, 'wrong'),
      basic('nobody', 'wrong'),
      'Basic !!!notbase64',
      `Basic ${Buffer.from('no-colon').toString('base64')}`,
      `Basic ${Buffer.from(':empty-user').toString('base64')}`,
      `Basic ${'A'.repeat(9000)}`,
      'Digest whatever',
    ];
    for (const authorization of headers) {
      const response = await request(`${gate.url}/v2/test/manifests/latest`, {
        dispatcher: gate.dispatcher,
        headers: authorization ? { authorization } : {},
      });
      assert.equal(response.statusCode, 401, String(authorization).slice(0, 30));
      assert.equal(response.headers['www-authenticate'], 'Basic realm="Registry realm"');
      assert.equal(response.headers['docker-distribution-api-version'], 'registry/2.0');
      const body = (await response.body.json()) as { errors: Array<{ code: string }> };
      assert.equal(body.errors[0]?.code, 'UNAUTHORIZED');
    }
    const wrongPull = await skopeoInspect(dockerRef(gate.host, 'test', 'latest'), {
      creds: { user: PUSHER.user, password: 'nope' },
      certDir: tls.caDir,
    });
    assert.notEqual(wrongPull.code, 0);
  });

  test('every response under /v2/ carries exactly one API version header', async () => {
    // Distribution 2.8 serves an OCI manifest only to clients that accept its media type.
    const auth = { authorization: basic(PUSHER.user, PUSHER.password), accept: 'application/vnd.oci.image.manifest.v1+json' };
    for (const [path, status] of [
      ['/v2/', 200],
      ['/v2/missing/manifests/latest', 404],
      ['/v2/test/manifests/latest', 200],
      ['/v2/_catalog', 200],
    ] as const) {
      const response = await request(`${gate.url}${path}`, { dispatcher: gate.dispatcher, headers: auth });
      await response.body.dump();
      assert.equal(response.statusCode, status, path);
      assert.equal(response.headers['docker-distribution-api-version'], 'registry/2.0', path);
    }
    const denied = await request(`${gate.url}/v2/test/manifests/latest`, {
      method: 'DELETE',
      dispatcher: gate.dispatcher,
      headers: { authorization: basic(READER.user, READER.password) },
    });
    await denied.body.dump();
    assert.equal(denied.statusCode, 403);
    assert.equal(denied.headers['docker-distribution-api-version'], 'registry/2.0');
  });

  test('pre-1.6 Docker clients get 404, as in the recipe', async () => {
    for (const agent of ['docker/1.5.0 go/go1.4.2', 'Go 1.1 package http', 'docker/1.3.1']) {
      const response = await request(`${gate.url}/v2/`, {
        dispatcher: gate.dispatcher,
        headers: { 'user-agent': agent, authorization: basic(PUSHER.user, PUSHER.password) },
      });
      await response.body.dump();
      assert.equal(response.statusCode, 404, agent);
    }
    const dev = await request(`${gate.url}/v2/`, {
      dispatcher: gate.dispatcher,
      headers: { 'user-agent': 'docker/1.5.0-dev', authorization: basic(PUSHER.user, PUSHER.password) },
    });
    await dev.body.dump();
    assert.equal(dev.statusCode, 200);
  });

  test('an htpasswd edit takes effect without a restart', async () => {
    const before = await readFile(gate.htpasswdFile, 'utf8');
    const made = await runProcess('htpasswd', ['-b', '-B', '-C', '5', gate.htpasswdFile, 'carol', 'carol-pass-3'], { timeoutMs: 30_000 });
    assert.equal(made.code, 0);
    const carol = { authorization: basic('carol', 'carol-pass-3') };
    assert.equal(await eventuallyStatus(`${gate.url}/v2/`, carol, 200, gate), 200);
    await writeFile(gate.htpasswdFile, before);
    assert.equal(await eventuallyStatus(`${gate.url}/v2/`, carol, 401, gate), 401);
    await appendFile(gate.htpasswdFile, '');
  });
});

function eventuallyStatus(url: string, headers: Record<string, string>, want: number, gate: TestGate): Promise<number> {
  return pollUntil(
    async () => {
      const response = await request(url, { dispatcher: gate.dispatcher, headers });
      await response.body.dump();
      return response.statusCode;
    },
    (status) => status === want,
    { timeoutMs: 2500, intervalMs: 100 },
  );
}
