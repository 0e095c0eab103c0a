/**
 * The Dockerfile and the compose files, built and run for real with podman, with no registry
 * access: the Node.js base image and registry:2 are stand-ins built here from this machine's own
 * binaries (test/helpers/podman.ts) and named through the Dockerfile's NODE_IMAGE build argument and
 * the compose files' image variables. npm inside the build runs offline from this machine's npm
 * cache (scripts/test.sh has just filled it with `npm ci`), with no network at all.
 *
 * - the image: a non-root user, data in the /data volume, config from REGISTRY_GATE_* variables,
 *   JSON logs on stdout with the password only in its file, a passing HEALTHCHECK, and the skopeo
 *   walk-through (push, then pull) over TLS;
 * - compose.yaml (the recipe's stack: registry-gate in front of registry:2, auth/ and data/, port
 *   5043, push limited to a group) and compose.builtin.yaml (the built-in registry alone), each
 *   service started as compose would (test/helpers/compose.ts says why not podman-compose), in a
 *   network namespace of this test's own, whose only interface is loopback.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chown, copyFile, mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { jsonLines } from '../helpers/log-lines.js';
import { freePort, makeTempDir, removeDir, runProcess } from '../helpers/process.js';
import { makeTlsPair } from '../helpers/tls.js';
import { makeOciImage, readOciLayoutDigests, type OciImage } from '../helpers/oci-image.js';
import { dockerRef, skopeoCopy, type Credentials } from '../helpers/skopeo.js';
import { buildNodeStandIn, buildRegistryStandIn, createPodman, waitForLog, type Podman } from '../helpers/podman.js';
import { loadCompose, podmanRunArgs, type ComposeProject } from '../helpers/compose.js';

const ROOT = process.cwd();
const NODE_IMAGE = 'localhost/registry-gate-test/node:20-standin';
const GATE_IMAGE = 'localhost/registry-gate-test/registry-gate:test';
const REGISTRY_IMAGE = 'localhost/registry-gate-test/registry:2-standin';
const SERVICE_UID = 10001;

const LISTENING = /registry-gate is listening on https:\/\//;

async function chownTree(path: string, uid: number): Promise<void> {
  await chown(path, uid, uid);
  if (!(await stat(path)).isDirectory()) return;
  for (const entry of await readdir(path)) await chownTree(join(path, entry), uid);
}

/** A skopeo cert dir trusting exactly `pemFile`. */
async function trustDir(dir: string, pemFile: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  await copyFile(pemFile, join(dir, 'ca.crt'));
  return dir;
}

/** Push `image` to `host/repository:v1`, pull it back, and compare what came back. */
async function pushAndPull(options: {
  image: OciImage;
  host: string;
  repository: string;
  creds: Credentials;
  certDir: string;
  out: string;
  netns?: string;
}): Promise<void> {
  const { image, host, repository, creds, certDir, netns } = options;
  const run = netns ? { netns } : {};
  const pushed = await skopeoCopy({
    from: image.ref,
    to: dockerRef(host, repository, 'v1'),
    dest: { creds, certDir },
    preserveDigests: true,
    ...run,
  });
  assert.equal(pushed.code, 0, pushed.stderr);
  const pulled = await skopeoCopy({
    from: dockerRef(host, repository, 'v1'),
    to: `oci:${options.out}:v1`,
    src: { creds, certDir },
    ociAcceptUncompressed: true,
    ...run,
  });
  assert.equal(pulled.code, 0, pulled.stderr);
  const back = await readOciLayoutDigests(options.out, 'v1');
  assert.deepEqual(back.layerDigests, image.layerDigests);
  assert.equal(back.manifestDigest, image.manifestDigest);
}

describe('container image and compose', () => {
  let dir: string;
  let podman: Podman;
  let image: OciImage;

  before(async () => {
    dir = await makeTempDir('rg-container-');
    podman = await createPodman(join(dir, 'podman'));
    await buildNodeStandIn(podman, NODE_IMAGE);
    const npmrc = join(dir, 'npmrc');
    await writeFile(npmrc, 'offline=true\n');
    const cache = (await runProcess('npm', ['config', 'get', 'cache'])).stdout.trim();
    await podman.ok(
      [
        'build',
        '--layers=false',
        '--format',
        'docker', // HEALTHCHECK is a Docker image setting; OCI images drop it
        '--network',
        'none',
        '--build-arg',
        `NODE_IMAGE=${NODE_IMAGE}`,
        // npm in the build reads this machine's cache through a throwaway overlay, offline.
        '--volume',
        `${cache}:/root/.npm:O`,
        '--volume',
        `${npmrc}:/root/.npmrc:ro`,
        '--tag',
        GATE_IMAGE,
        ROOT,
      ],
      { timeoutMs: 400_000 },
    );
    await buildRegistryStandIn(podman, REGISTRY_IMAGE);
    image = await makeOciImage(join(dir, 'image'), { layers: [2000, 30_000] });
  });

  after(async () => {
    await podman.cleanup();
    if (dir) await removeDir(dir);
  });

  test('the image: non-root, data in /data, configured by variables, JSON logs, healthy, a skopeo push and pull over TLS', async () => {
    const inspected = JSON.parse(await podman.ok(['image', 'inspect', GATE_IMAGE])) as Array<{
      Config: Record<string, unknown>;
      Healthcheck?: { Test: string[] };
    }>;
    const config = inspected[0]!.Config;
    assert.equal(config.User, `${SERVICE_UID}:${SERVICE_UID}`);
    assert.deepEqual(Object.keys(config.Volumes as object), ['/data']);
    assert.deepEqual(Object.keys(config.ExposedPorts as object), ['5043/tcp']);
    assert.deepEqual(inspected[0]!.Healthcheck?.Test, ['CMD', 'node', '/opt/registry-gate/bin/registry-gate', 'healthcheck']);

    const port = await freePort();
    const name = 'gate-image';
    await podman.ok([
      'run',
      '--detach',
      '--name',
      name,
      '--network',
      'host',
      '--env',
      `REGISTRY_GATE_LISTEN=127.0.0.1:${port}`,
      GATE_IMAGE,
    ]);
    const logs = await waitForLog(podman, name, LISTENING);
    assert.match(
      logs.stderr,
      new RegExp(`registry-gate is listening on https://127\\.0\\.0\\.1:${port} \\(built-in registry in /data/registry\\)`),
    );
    assert.match(logs.stderr, /its password is in \/data\/initial-admin-password \(mode 0600\)/);
    assert.ok(
      jsonLines(logs.stdout).every((line) => line.log === 'app'),
      'stdout holds only log lines',
    );

    const inContainer = JSON.parse(
      await podman.ok([
        'exec',
        name,
        'node',
        '-e',
        "const fs = require('node:fs'); console.log(JSON.stringify({ uid: process.getuid(), gid: process.getgid(), dataOwner: fs.statSync('/data').uid, typescript: fs.existsSync('/opt/registry-gate/node_modules/typescript'), sources: fs.existsSync('/opt/registry-gate/src') }))",
      ]),
    ) as Record<string, unknown>;
    assert.deepEqual(inContainer, { uid: SERVICE_UID, gid: SERVICE_UID, dataOwner: SERVICE_UID, typescript: false, sources: false });

    const health = await podman.run(['healthcheck', 'run', name]);
    assert.equal(health.code, 0, health.stdout + health.stderr);
    assert.equal((await podman.ok(['inspect', '--format', '{{.State.Health.Status}}', name])).trim(), 'healthy');

    const volume = (
      await podman.ok(['inspect', '--format', '{{range .Mounts}}{{if eq .Destination "/data"}}{{.Source}}{{end}}{{end}}', name])
    ).trim();
    const password = (await readFile(join(volume, 'initial-admin-password'), 'utf8')).trim();
    assert.equal((await stat(join(volume, 'initial-admin-password'))).mode & 0o777, 0o600);
    const certDir = await trustDir(join(dir, 'image-trust'), join(volume, 'tls', 'cert.pem'));
    await pushAndPull({
      image,
      host: `127.0.0.1:${port}`,
      repository: 'smoke/app',
      creds: { user: 'admin', password },
      certDir,
      out: join(dir, 'image-out'),
    });
    const anonymous = await skopeoCopy({
      from: dockerRef(`127.0.0.1:${port}`, 'smoke/app', 'v1'),
      to: `oci:${join(dir, 'image-anon')}:v1`,
      src: { certDir, noCreds: true },
    });
    assert.notEqual(anonymous.code, 0, 'anonymous pull is refused');

    const after = await podman.run(['logs', name]);
    assert.ok(!after.stdout.includes(password) && !after.stderr.includes(password), 'the password is in no log');
    assert.ok(
      jsonLines(after.stdout).some((line) => line.log === 'access' && line.user === 'admin' && line.method === 'PUT'),
      'the push is in the access log',
    );
    await podman.ok(['rm', '--force', '--time', '5', name]);
  });

  describe('compose files, in a network namespace of their own', () => {
    const netns = `rg-compose-${process.pid}`;

    before(async () => {
      const added = await runProcess('ip', ['netns', 'add', netns]);
      assert.equal(added.code, 0, added.stderr);
      const up = await runProcess('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
      assert.equal(up.code, 0, up.stderr);
    });
    after(async () => {
      await podman.run(['rm', '--all', '--force', '--time', '2']);
      await runProcess('ip', ['netns', 'delete', netns]);
    });

    async function startProject(
      file: string,
      folder: string,
      project: string,
      variables: Record<string, string> = {},
    ): Promise<ComposeProject> {
      const compose = await loadCompose(file, project, { REGISTRY_GATE_IMAGE: GATE_IMAGE, REGISTRY_IMAGE, ...variables });
      const gate = compose.services.find((service) => service.name === 'registry-gate');
      assert.ok(gate, 'the compose file has a registry-gate service');
      assert.deepEqual(
        gate.build,
        { context: folder, args: { NODE_IMAGE: 'node:20-bookworm-slim' } },
        'it builds the Dockerfile beside it, on node:20-bookworm-slim',
      );
      assert.deepEqual(gate.ports, [5043]);
      for (const service of compose.services) await podman.ok(podmanRunArgs(compose, service, `/run/netns/${netns}`));
      await waitForLog(podman, `${project}_registry-gate`, LISTENING);
      const health = await podman.run(['healthcheck', 'run', `${project}_registry-gate`]);
      assert.equal(health.code, 0, health.stdout + health.stderr);
      return compose;
    }

    test("compose.yaml: the recipe's stack, registry-gate in front of registry:2, push limited to a group", async () => {
      const folder = join(dir, 'recipe');
      await mkdir(join(folder, 'auth'), { recursive: true });
      await mkdir(join(folder, 'data'));
      await copyFile(join(ROOT, 'compose.yaml'), join(folder, 'compose.yaml'));
      // The recipe's steps: the config, an htpasswd file made with Apache's tool, the TLS pair.
      await copyFile(join(ROOT, 'contrib', 'compose', 'registry-gate.yaml'), join(folder, 'auth', 'registry-gate.yaml'));
      const users = { testuser: 'testpassword', reader: 'reader-Passw0rd' };
      const lines: string[] = [];
      for (const [user, password] of Object.entries(users)) {
        const made = await runProcess('htpasswd', ['-Bbn', user, password]);
        assert.equal(made.code, 0, made.stderr);
        lines.push(made.stdout.trim());
      }
      await writeFile(join(folder, 'auth', 'nginx.htpasswd'), `${lines.join('\n')}\n`);
      const tls = await makeTlsPair(join(dir, 'recipe-tls'), { hosts: ['myregistrydomain.com', 'localhost', '127.0.0.1'] });
      await copyFile(tls.certFile, join(folder, 'auth', 'domain.crt'));
      await copyFile(tls.keyFile, join(folder, 'auth', 'domain.key'));
      await chownTree(join(folder, 'auth'), SERVICE_UID);

      await startProject(join(folder, 'compose.yaml'), folder, 'recipe');
      const host = '127.0.0.1:5043';
      await pushAndPull({
        image,
        host,
        repository: 'test',
        creds: { user: 'testuser', password: users.testuser },
        certDir: tls.caDir,
        out: join(dir, 'recipe-out'),
        netns,
      });
      const stored = await readdir(join(folder, 'data', 'docker', 'registry', 'v2', 'repositories'));
      assert.deepEqual(stored, ['test'], 'registry:2 stored the push in data/');

      const reader = { user: 'reader', password: users.reader };
      const readerPull = await skopeoCopy({
        from: dockerRef(host, 'test', 'v1'),
        to: `oci:${join(dir, 'reader-out')}:v1`,
        src: { creds: reader, certDir: tls.caDir },
        netns,
      });
      assert.equal(readerPull.code, 0, readerPull.stderr);
      const readerPush = await skopeoCopy({
        from: image.ref,
        to: dockerRef(host, 'reader/app', 'v1'),
        dest: { creds: reader, certDir: tls.caDir },
        netns,
      });
      assert.notEqual(readerPush.code, 0, 'a user outside the pushers group cannot push');
      assert.match(readerPush.stderr, /denied|DENIED|403/);
      await podman.ok(['rm', '--force', '--time', '5', 'recipe_registry-gate', 'recipe_registry']);
    });

    test('compose.builtin.yaml: the built-in registry alone, first-run admin and certificate in its volume', async () => {
      const folder = join(dir, 'builtin');
      await mkdir(folder);
      await copyFile(join(ROOT, 'compose.builtin.yaml'), join(folder, 'compose.builtin.yaml'));
      // As a user reaching the host by name would set it: the certificate must carry these names.
      await startProject(join(folder, 'compose.builtin.yaml'), folder, 'builtin', {
        REGISTRY_GATE_TLS_NAMES: 'registry.example.test,192.0.2.10',
      });
      const volume = (await podman.ok(['volume', 'inspect', '--format', '{{.Mountpoint}}', 'builtin_registry-gate-data'])).trim();
      const names = new X509Certificate(await readFile(join(volume, 'tls', 'cert.pem'))).subjectAltName ?? '';
      for (const name of ['DNS:registry.example.test', 'IP Address:192.0.2.10', 'DNS:localhost'])
        assert.ok(names.split(', ').includes(name), `the certificate names ${name}: ${names}`);
      const password = (await readFile(join(volume, 'initial-admin-password'), 'utf8')).trim();
      const certDir = await trustDir(join(dir, 'builtin-trust'), join(volume, 'tls', 'cert.pem'));
      await pushAndPull({
        image,
        host: '127.0.0.1:5043',
        repository: 'alone/app',
        creds: { user: 'admin', password },
        certDir,
        out: join(dir, 'builtin-out'),
        netns,
      });
      await podman.ok(['rm', '--force', '--time', '5', 'builtin_registry-gate']);
    });
  });
});
