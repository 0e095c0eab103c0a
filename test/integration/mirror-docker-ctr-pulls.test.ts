/**
 * Real clients pulling through mirrors as they are configured in the field:
 *
 * - the docker daemon with `registry-mirrors` (daemon.json): it asks the mirror for Docker Hub's
 *   names without any prefix (`/v2/library/app/...`). Docker Hub itself cannot be used here, so the
 *   "Docker Hub" the gateway mirrors is a loopback Distribution; dockerd pulls `library/app:v1`
 *   (docker.io's name) from its mirror, the gateway, whose mirror `library/**` (no stripPrefix)
 *   serves it, and never needs docker.io once the mirror answered.
 * - containerd's `ctr` with a `hosts.toml` for docker.io naming the gateway as a mirror host: it
 *   sends `?ns=docker.io`, which the gateway maps to its `hub/**` mirror (`namespace: docker.io`)
 *   and decides as `hub/library/app`.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdir, writeFile } from 'node:fs/promises';
import { startDistribution, type RunningDistribution } from '../helpers/distribution.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { startGate, type TestGate } from '../helpers/gate.js';
import { startDockerd, type RunningDockerd } from '../helpers/dockerd.js';
import { startContainerd, type RunningContainerd } from '../helpers/containerd.js';
import { makeOciImage, type OciImage } from '../helpers/oci-image.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { dockerRef, skopeoCopy } from '../helpers/skopeo.js';

const ALICE = { user: 'alice', password: 'alice-secret-1' };
/** May pull library/** (the docker mirror's names) but not hub/**. */
const BOB = { user: 'bob', password: 'bob-secret-2' };

describe('docker registry-mirrors and ctr hosts.toml pull through the gateway', () => {
  let dir: string;
  let hub: RunningDistribution;
  let proxy: FaultProxy;
  let gate: TestGate;
  let image: OciImage;

  before(async () => {
    dir = await makeTempDir('rg-mirror-clients-');
    hub = await startDistribution({ dir: join(dir, 'hub') });
    proxy = await startFaultProxy(hub.url);
    image = await makeOciImage(join(dir, 'image'), { layers: [2048, 50_000] });
    const pushed = await skopeoCopy({
      from: image.ref,
      to: dockerRef(hub.host, 'library/app', 'v1'),
      dest: { tlsVerify: false },
      preserveDigests: true,
    });
    assert.equal(pushed.code, 0, pushed.stderr);
    gate = await startGate({
      dir: join(dir, 'gate'),
      users: { [ALICE.user]: ALICE.password, [BOB.user]: BOB.password },
      config: {
        mirrors: [
          { repository: 'library/**', url: proxy.url },
          { repository: 'hub/**', url: proxy.url, stripPrefix: 'hub/', namespace: 'docker.io' },
        ],
        access: [
          { repository: 'library/**', actions: ['pull'], subjects: ['anonymous', 'authenticated'] },
          { repository: 'hub/**', actions: ['pull'], subjects: [`user:${ALICE.user}`] },
        ],
      },
    });
  });

  after(async () => {
    await gate.stop();
    await proxy.stop();
    await hub.stop();
    await removeDir(dir);
  });

  describe('dockerd with registry-mirrors', () => {
    let dockerd: RunningDockerd;
    before(async () => {
      dockerd = await startDockerd({ daemonJson: { 'registry-mirrors': [gate.url] } });
      // The CLI sends its Docker Hub login with a pull, and dockerd hands it to the mirror (the gateway).
      const login = Buffer.from(`${ALICE.user}:${ALICE.password}`).toString('base64');
      await writeFile(
        join(dockerd.dir, 'config', 'config.json'),
        JSON.stringify({ auths: { 'https://index.docker.io/v1/': { auth: login } } }),
      );
    });
    after(async () => {
      await dockerd.stop();
    });

    test('docker pull library/app:v1 is served by the mirror, without a prefix', async () => {
      const before = proxy.count('GET', '/v2/library/app/manifests/');
      const pulled = await dockerd.docker(['pull', 'library/app:v1'], { timeoutMs: 60_000 });
      assert.equal(pulled.code, 0, `${pulled.stderr}\n${dockerd.output().slice(-2000)}`);
      const inspected = await dockerd.docker(['image', 'inspect', '--format', '{{json .RepoDigests}}', 'library/app:v1']);
      assert.equal(inspected.code, 0, inspected.stderr);
      assert.ok(inspected.stdout.includes(image.manifestDigest), inspected.stdout);
      assert.ok(proxy.count('GET', '/v2/library/app/manifests/') + proxy.count('HEAD', '/v2/library/app/manifests/') > before);
    });
  });

  describe('ctr with a hosts.toml mirror for docker.io', () => {
    let containerd: RunningContainerd;
    before(async () => {
      containerd = await startContainerd();
      const hosts = join(containerd.dir, 'hosts', 'docker.io');
      await mkdir(hosts, { recursive: true });
      const toml = ['server = "https://registry-1.docker.io"', `[host."${gate.url}"]`, '  capabilities = ["pull", "resolve"]', ''];
      await writeFile(join(hosts, 'hosts.toml'), toml.join('\n'));
    });
    after(async () => {
      await containerd.stop();
    });

    test('ctr pulls docker.io/library/app:v1 through ns=docker.io, decided as hub/library/app', async () => {
      const pulled = await containerd.pull('docker.io/library/app:v1', ALICE, { namespace: 'alice' });
      assert.equal(pulled.code, 0, pulled.stderr);
      const listed = await containerd.ctr(['images', 'ls'], { namespace: 'alice' });
      assert.equal(
        await containerd.imageDigest('docker.io/library/app:v1', { namespace: 'alice' }),
        image.manifestDigest,
        `${pulled.stdout}\n${listed.stdout}`,
      );
    });

    test('ns=docker.io is decided as hub/library/app: a caller who may pull library/app but not hub/** gets nothing', async () => {
      const refused = await containerd.pull('docker.io/library/app:v1', BOB, { namespace: 'bob' });
      assert.notEqual(refused.code, 0, refused.stdout);
      assert.equal(await containerd.imageDigest('docker.io/library/app:v1', { namespace: 'bob' }), undefined);
    });
  });
});
