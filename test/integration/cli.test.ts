/**
 * registry-gate as users run it: the real CLI in its own process. First run with no config,
 * check-config errors, TLS reload without dropping connections, graceful SIGTERM.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { copyFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { connect } from 'node:tls';
import { once } from 'node:events';
import { request as httpsRequest } from 'node:https';
import { request } from 'undici';
import { makeTempDir, removeDir, freePort, runProcess } from '../helpers/process.js';
import { makeTlsPair } from '../helpers/tls.js';
import { makeOciImage, readOciLayoutDigests } from '../helpers/oci-image.js';
import { skopeoCopy, dockerRef } from '../helpers/skopeo.js';
import { startHeaderCapture, type HeaderCapture } from '../helpers/header-capture.js';
import { writeHtpasswd, basic } from '../helpers/gate.js';
import { CLI, startGateProcess, startConfiguredGateProcess } from '../helpers/gate-process.js';
import { pollUntil, waitFor } from '../helpers/wait.js';

describe('first run with no config', () => {
  let dir: string;
  before(async () => {
    dir = await makeTempDir('rg-first-');
  });
  after(async () => removeDir(dir));

  test('serve creates TLS and an admin once, and is a working authenticated registry', async () => {
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    const gate = await startGateProcess(['--listen', host], { cwd: dir, url: `https://${host}` });
    let password: string;
    try {
      const stderr = gate.streamOutput('stderr');
      assert.match(stderr, /Generated a self-signed TLS certificate .* \(SHA-256 fingerprint [0-9A-F:]+\)/);
      const passwordFile = join(dir, 'data', 'initial-admin-password');
      assert.ok(stderr.includes(`its password is in ${passwordFile} (mode 0600)`), 'the password file is named on stderr');
      assert.equal((await stat(passwordFile)).mode & 0o777, 0o600);
      password = (await readFile(passwordFile, 'utf8')).trim();
      assert.match(password, /^[\w-]{24}$/);
      assert.ok(!gate.output().includes(password), 'the password itself is printed nowhere when stderr is not a terminal');
      assert.equal((await stat(join(dir, 'data', 'htpasswd'))).mode & 0o777, 0o600);
      assert.equal((await stat(join(dir, 'data', 'tls', 'key.pem'))).mode & 0o777, 0o600);

      const trust = join(dir, 'trust');
      await mkdir(trust);
      await copyFile(join(dir, 'data', 'tls', 'cert.pem'), join(trust, 'ca.crt'));
      const image = await makeOciImage(join(dir, 'image'), { layers: [1000, 20_000] });
      const admin = { user: 'admin', password };
      const pushed = await skopeoCopy({
        from: image.ref,
        to: dockerRef(host, 'first/run', 'v1'),
        dest: { creds: admin, certDir: trust },
        preserveDigests: true,
      });
      assert.equal(pushed.code, 0, pushed.stderr);
      const out = join(dir, 'out');
      const pulled = await skopeoCopy({
        from: dockerRef(host, 'first/run', 'v1'),
        to: `oci:${out}:v1`,
        src: { creds: admin, certDir: trust },
        ociAcceptUncompressed: true,
      });
      assert.equal(pulled.code, 0, pulled.stderr);
      assert.deepEqual((await readOciLayoutDigests(out, 'v1')).layerDigests, image.layerDigests);
      const anonymous = await skopeoCopy({
        from: dockerRef(host, 'first/run', 'v1'),
        to: `oci:${join(dir, 'anon')}:v1`,
        src: { certDir: trust, noCreds: true },
      });
      assert.notEqual(anonymous.code, 0, 'anonymous pull is refused');
    } finally {
      await gate.stop();
    }
    assert.ok(!gate.output().includes(password), 'the password is in no log line');

    const again = await startGateProcess(['--listen', host], { cwd: dir, url: `https://${host}` });
    await again.stop();
    assert.doesNotMatch(again.output(), /password|Generated/, 'nothing is created or printed the second time');
    assert.equal(
      (await readFile(join(dir, 'data', 'initial-admin-password'), 'utf8')).trim(),
      password,
      'the password file is left as it was',
    );
  });
});

describe('check-config', () => {
  test('names the bad key and exits non-zero; a good file passes', async () => {
    const dir = await makeTempDir('rg-check-');
    try {
      const bad = join(dir, 'bad.yaml');
      await writeFile(bad, 'listen: "0.0.0.0:5043"\nauth: { realm: x, htpassword: f }\nupstream: { url: "ftp://x" }\n');
      const failed = await runProcess(process.execPath, [CLI, 'check-config', bad]);
      assert.equal(failed.code, 1);
      assert.match(failed.stderr, /auth: unknown key\(s\): htpassword/);
      assert.match(failed.stderr, /upstream\.url: expected http\(s\):\/\/HOST\[:PORT\]/);
      const good = join(dir, 'good.yaml');
      await writeFile(good, 'upstream: { url: "http://127.0.0.1:5000" }\n');
      const passed = await runProcess(process.execPath, [CLI, 'check-config', good]);
      assert.equal(passed.code, 0, passed.stderr);
      const help = await runProcess(process.execPath, [CLI, 'serve', '--help']);
      assert.match(help.stdout, /--tls-cert/);
    } finally {
      await removeDir(dir);
    }
  });
});

describe('a running gate with two workers: TLS reload and graceful shutdown', () => {
  let dir: string;
  let capture: HeaderCapture;
  const user = { user: 'alice', password: 'alice-secret-1' };

  before(async () => {
    dir = await makeTempDir('rg-signals-');
    capture = await startHeaderCapture();
    await writeHtpasswd(join(dir, 'htpasswd'), { [user.user]: user.password });
  });
  after(async () => {
    await capture.stop();
    await removeDir(dir);
  });

  async function fingerprintOf(port: number, ca: string): Promise<string> {
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' });
    await once(socket, 'secureConnect');
    const fingerprint = socket.getPeerCertificate().fingerprint256;
    socket.destroy();
    return fingerprint;
  }

  test('a new certificate is used for new connections; a broken one is refused and the old one kept', async () => {
    const first = await makeTlsPair(join(dir, 'tls1'));
    const second = await makeTlsPair(join(dir, 'tls2'));
    const live = join(dir, 'live');
    await mkdir(live);
    await copyFile(first.certFile, join(live, 'cert.pem'));
    await copyFile(first.keyFile, join(live, 'key.pem'));
    const gate = await startConfiguredGateProcess({
      dir,
      file: 'reload.yaml',
      config: {
        tls: { cert: 'live/cert.pem', key: 'live/key.pem' },
        upstream: { url: capture.url },
        auth: { htpasswd: 'htpasswd' },
        log: { level: 'info', format: 'json' },
        workers: 2,
      },
    });
    const { port } = gate;
    try {
      const before = await fingerprintOf(port, first.caPem);
      await copyFile(second.keyFile, join(live, 'key.pem'));
      await copyFile(second.certFile, join(live, 'cert.pem'));
      gate.child.kill('SIGHUP');
      const after = await pollUntil(
        () => fingerprintOf(port, second.caPem).catch(() => before),
        (seen) => seen !== before,
        { timeoutMs: 4000, intervalMs: 100 },
      );
      assert.notEqual(after, before, 'the new certificate is served');
      await writeFile(join(live, 'cert.pem'), 'not a certificate');
      gate.child.kill('SIGHUP');
      // Every worker that reloaded the good certificate says so about the broken one too.
      const reloaded = gate.output().match(/TLS certificate reloaded/g)?.length ?? 0;
      await waitFor(`the failed reload logged ${reloaded} times`, () => {
        const failures = gate.output().match(/TLS certificate reload failed; keeping the previous certificate/g)?.length ?? 0;
        return reloaded > 0 && failures >= reloaded;
      });
      assert.equal(await fingerprintOf(port, second.caPem), after, 'a broken certificate does not replace a good one');
    } finally {
      await gate.stop();
    }
  });

  test('SIGTERM lets an in-flight upload finish, then exits 0', async () => {
    const tls = await makeTlsPair(join(dir, 'tls3'));
    const gate = await startConfiguredGateProcess({
      dir,
      file: 'term.yaml',
      config: {
        tls: { cert: tls.certFile, key: tls.keyFile },
        upstream: { url: capture.url },
        auth: { htpasswd: 'htpasswd' },
        server: { shutdownGrace: '10s' },
        log: { level: 'warn' },
        workers: 2,
      },
    });
    const { port } = gate;
    capture.clear();
    const upload = httpsRequest({
      host: '127.0.0.1',
      port,
      ca: tls.caPem,
      servername: 'localhost',
      method: 'PATCH',
      path: '/v2/app/blobs/uploads/abc',
      headers: { authorization: basic(user.user, user.password), 'content-type': 'application/octet-stream' },
    });
    const response = once(upload, 'response');
    upload.write(Buffer.alloc(64 * 1024));
    await waitFor('the upload in flight at the upstream', () => capture.started.includes('PATCH /v2/app/blobs/uploads/abc'));
    const exited = once(gate.child, 'exit');
    gate.child.kill('SIGTERM');
    await waitFor('no new connections after SIGTERM', () =>
      request(`https://127.0.0.1:${port}/v2/`).then(
        async (answer) => {
          await answer.body.dump();
          return false;
        },
        () => true,
      ),
    );
    upload.end(Buffer.alloc(64 * 1024));
    const [res] = (await response) as [import('node:http').IncomingMessage];
    res.resume();
    assert.equal(res.statusCode, 404, 'the upstream answered the finished upload');
    assert.equal(capture.requests.at(-1)?.bodyLength, 128 * 1024);
    const [code] = (await exited) as [number | null];
    assert.equal(code, 0);
  });
});

describe('version, help and healthcheck', () => {
  test('version prints the version in package.json; --help lists every REGISTRY_GATE_* variable with its default', async () => {
    const { version } = JSON.parse(await readFile(join(process.cwd(), 'package.json'), 'utf8')) as { version: string };
    const printed = await runProcess(process.execPath, [CLI, 'version']);
    assert.equal(printed.code, 0, printed.stderr);
    assert.equal(printed.stdout, `registry-gate ${version} (Node.js ${process.version})\n`);
    const flag = await runProcess(process.execPath, [CLI, '--version']);
    assert.equal(flag.stdout.trim(), version);

    const { ENV_VARIABLES } = await import('../../src/config/env.js');
    for (const args of [['--help'], ['serve', '--help']]) {
      const help = await runProcess(process.execPath, [CLI, ...args]);
      assert.equal(help.code, 0, help.stderr);
      for (const variable of ENV_VARIABLES) {
        const line = help.stdout.split('\n').find((text) => text.trimStart().startsWith(`${variable.name} `));
        assert.ok(line, `${args.join(' ')} lists ${variable.name}`);
        assert.ok(line.includes(`(default: ${variable.fallback})`), `${args.join(' ')} gives the default of ${variable.name}: ${line}`);
      }
    }
    const listed = await runProcess(process.execPath, [CLI, '--help']);
    assert.match(listed.stdout, /REGISTRY_GATE_LISTEN +listen \(default: 0\.0\.0\.0:5043\)/);
  });

  test('healthcheck: 0 while the server this config describes answers, 1 when nothing listens', async () => {
    const dir = await makeTempDir('rg-health-');
    try {
      const tls = await makeTlsPair(join(dir, 'tls'));
      await writeHtpasswd(join(dir, 'htpasswd'), { alice: 'alice-Health-1' }, 4);
      const port = await freePort();
      const config = join(dir, 'health.yaml');
      await writeFile(
        config,
        `listen: "0.0.0.0:${port}"\ntls: { cert: ${tls.certFile}, key: ${tls.keyFile} }\nauth: { htpasswd: htpasswd }\ndataDir: data\n`,
      );
      const env = { ...process.env, REGISTRY_GATE_CONFIG: config };
      const down = await runProcess(process.execPath, [CLI, 'healthcheck'], { env });
      assert.equal(down.code, 1);
      assert.match(down.stdout, new RegExp(`^unhealthy: GET https://127\\.0\\.0\\.1:${port}/healthz failed: ECONNREFUSED`));
      const gate = await startGateProcess([], { cwd: dir, url: `https://127.0.0.1:${port}`, env: { REGISTRY_GATE_CONFIG: config } });
      try {
        const up = await runProcess(process.execPath, [CLI, 'healthcheck'], { env });
        assert.equal(up.code, 0, up.stdout + up.stderr);
        assert.equal(up.stdout, `healthy: GET https://127.0.0.1:${port}/healthz answered 200\n`);
      } finally {
        await gate.stop();
      }
    } finally {
      await removeDir(dir);
    }
  });
});
