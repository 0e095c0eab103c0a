/**
 * Reloading the config of a running server (the real CLI, in front of Debian's Distribution):
 * SIGHUP and a change of the config file re-read the whole config and swap in what was built from
 * it. What must hold:
 * - a rule change applies to new requests at once, while a large upload that started under the old
 *   rules completes (its body arrives whole);
 * - a config that does not validate, or whose files cannot be loaded, leaves the server running on
 *   the config it had, and the log says why;
 * - a change that cannot apply live (the listen address) is logged as needing a restart, and the
 *   rest of the config applies;
 * - with two workers, each applies the change, and the metrics the primary serves add both up;
 * - no password appears in any log line.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rename, writeFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { request } from 'undici';
import { startDistribution, type RunningDistribution } from '../helpers/distribution.js';
import { freePort, makeTempDir, removeDir } from '../helpers/process.js';
import { basic, writeHtpasswd } from '../helpers/gate.js';
import { startGateProcess, type GateProcess } from '../helpers/gate-process.js';
import { pollUntilEqual } from '../helpers/wait.js';

const ALICE = { user: 'alice', password: 'alice-Reload-secret-1' };
const BOB = { user: 'bob', password: 'bob-Reload-secret-2' };
const MIB = 1024 * 1024;

const pushRules = (pusher: string) =>
  `access:\n  - { repository: "team/**", actions: [pull, push], subjects: ["user:${pusher}"] }\n  - { repository: "team/**", actions: [pull], subjects: [authenticated] }\n`;

/** Replaces the file the way a deployment tool does (write aside, rename over). */
async function replaceFile(file: string, text: string): Promise<void> {
  await writeFile(`${file}.new`, text);
  await rename(`${file}.new`, file);
}

/** Whether `user` may start an upload to team/app now: 202, or 403 when the rules refuse it. */
async function uploadStart(url: string, user: { user: string; password: string }): Promise<number> {
  const response = await request(`${url}/v2/team/app/blobs/uploads/`, {
    method: 'POST',
    headers: { authorization: basic(user.user, user.password) },
  });
  await response.body.dump();
  return response.statusCode;
}

/** How long a reload may take to show, and how often to look. */
const RELOAD_WAIT = { timeoutMs: 10_000, intervalMs: 100 };

async function untilLogged(gate: GateProcess, pattern: RegExp, timeoutMs = 10_000): Promise<string> {
  const found = await pollUntilEqual(() => Promise.resolve(pattern.test(gate.output())), true, { ...RELOAD_WAIT, timeoutMs });
  assert.ok(found, `no log line matching ${pattern}; output:\n${gate.output()}`);
  return gate.output();
}

/** The JSON log lines the server wrote to stdout. */
function logLines(gate: GateProcess): Array<Record<string, unknown>> {
  return gate
    .streamOutput('stdout')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** One sample's value from the exposition (Prometheus parses it for real in health-metrics.test.ts). */
async function sampleValue(metricsUrl: string, series: string): Promise<number> {
  const response = await request(metricsUrl);
  const text = await response.body.text();
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? Number.NaN : Number(line.slice(series.length + 1));
}

describe('config reload of a running server', () => {
  let dir: string;
  let registry: RunningDistribution;
  let gate: GateProcess;
  let configFile: string;
  let port: number;
  let metricsPort: number;
  let url: string;

  const configText = (rules: string, extra = '') =>
    `listen: "127.0.0.1:${port}"\ntls: off\nupstream: { url: "${registry.url}" }\nauth: { htpasswd: htpasswd }\n` +
    `metrics: { listen: "127.0.0.1:${metricsPort}" }\nlog: { level: info, format: json, access: false }\naudit: { enabled: false }\n${extra}${rules}`;

  before(async () => {
    dir = await makeTempDir('rg-reload-');
    registry = await startDistribution({ dir: join(dir, 'distribution') });
    await writeHtpasswd(join(dir, 'htpasswd'), { [ALICE.user]: ALICE.password, [BOB.user]: BOB.password }, 4);
    [port, metricsPort] = [await freePort(), await freePort()];
    url = `http://127.0.0.1:${port}`;
    configFile = join(dir, 'registry-gate.yaml');
    await writeFile(configFile, configText(pushRules(ALICE.user)));
    gate = await startGateProcess(['--config', configFile], { cwd: dir, url });
  });

  after(async () => {
    await gate.stop();
    await registry.stop();
    if (dir) await removeDir(dir);
  });

  test(
    'SIGHUP applies a rule change to new requests while an upload started under the old rules completes',
    { timeout: 120_000 },
    async () => {
      assert.equal(await uploadStart(url, ALICE), 202);
      assert.equal(await uploadStart(url, BOB), 403);

      const start = await request(`${url}/v2/team/app/blobs/uploads/`, {
        method: 'POST',
        headers: { authorization: basic(ALICE.user, ALICE.password) },
      });
      await start.body.dump();
      const location = new URL(String(start.headers.location), url);
      const upload = httpRequest({
        host: '127.0.0.1',
        port,
        method: 'PATCH',
        path: `${location.pathname}${location.search}`,
        headers: { authorization: basic(ALICE.user, ALICE.password), 'content-type': 'application/octet-stream' },
      });
      const response = new Promise<IncomingMessage>((resolve, reject) => upload.once('response', resolve).once('error', reject));
      const chunk = Buffer.alloc(MIB, 7);
      const send = async (mebibytes: number) => {
        for (let i = 0; i < mebibytes; i++) if (!upload.write(chunk)) await new Promise((resolve) => upload.once('drain', resolve));
      };
      await send(32);

      // Mid-upload: push moves from alice to bob.
      await replaceFile(configFile, configText(pushRules(BOB.user)));
      gate.child.kill('SIGHUP');
      assert.equal(await pollUntilEqual(() => uploadStart(url, BOB), 202, RELOAD_WAIT), 202, 'bob may push under the new rules');
      assert.equal(await uploadStart(url, ALICE), 403, 'alice may not start a new upload');

      await send(32);
      const released = () => logLines(gate).some((line) => line.msg === 'the previous config was closed after its last request');
      assert.equal(released(), false, 'the stages the upload started with are still open');
      upload.end();
      const answer = await response;
      answer.resume();
      assert.equal(answer.statusCode, 202, 'the upload that started under the old rules completed');
      assert.equal(answer.headers.range, `0-${64 * MIB - 1}`, 'with its whole body');
      assert.equal(await pollUntilEqual(() => Promise.resolve(released()), true, RELOAD_WAIT), true, 'and are closed once it is done');

      const finish = await request(`${location.href}&digest=sha256:${'0'.repeat(64)}`, {
        method: 'PUT',
        headers: { authorization: basic(ALICE.user, ALICE.password) },
      });
      await finish.body.dump();
      assert.equal(finish.statusCode, 403, 'the next request of that upload is decided by the new rules');

      const reloaded = logLines(gate).filter((line) => line.msg === 'config reloaded');
      assert.equal(reloaded.length, 1, 'one reload applied the change (the watcher then found nothing new)');
      assert.equal(reloaded[0]!.reason, 'SIGHUP');
      assert.deepEqual(reloaded[0]!.changed, ['access']);
      assert.equal(
        (await sampleValue(`http://127.0.0.1:${metricsPort}/metrics`, 'registry_gate_config_reloads_total{result="ok"}')) >= 1,
        true,
      );
    },
  );

  test('a broken config leaves the server running on the one it had, and the log says why', async () => {
    const failedBefore = await sampleValue(
      `http://127.0.0.1:${metricsPort}/metrics`,
      'registry_gate_config_reloads_total{result="failed"}',
    );
    // A key that does not exist (a typo of `access`): the whole file is refused, not just that key.
    await replaceFile(configFile, configText(pushRules(ALICE.user).replace('access:', 'acces:')));
    gate.child.kill('SIGHUP');
    await untilLogged(gate, /unknown key\(s\): acces/);
    // A file the config names that cannot be loaded: refused too, nothing half-applied.
    await replaceFile(configFile, configText(pushRules(ALICE.user)).replace('htpasswd: htpasswd', 'htpasswd: missing-htpasswd'));
    gate.child.kill('SIGHUP');
    await untilLogged(gate, /cannot load htpasswd file [^"]*missing-htpasswd/);

    assert.equal(gate.child.exitCode, null, 'still running');
    assert.equal(await uploadStart(url, BOB), 202, 'the running rules still hold');
    assert.equal(await uploadStart(url, ALICE), 403);
    const failures = logLines(gate).filter((line) => line.msg === 'config reload failed; keeping the running config');
    assert.ok(failures.length >= 2, 'each refused config is logged');
    assert.ok(failures.every((line) => line.level === 'error' && typeof line.problem === 'string'));
    assert.ok(
      (await sampleValue(`http://127.0.0.1:${metricsPort}/metrics`, 'registry_gate_config_reloads_total{result="failed"}')) >=
        failedBefore + 2,
    );
  });

  test('a change of the config file applies without a signal', async () => {
    await writeFile(configFile, configText(pushRules(ALICE.user))); // in place, as an editor writes
    assert.equal(await pollUntilEqual(() => uploadStart(url, ALICE), 202, RELOAD_WAIT), 202, 'alice may push again');
    assert.equal(await uploadStart(url, BOB), 403);
    await untilLogged(gate, /"reason":"config file changed"[^\n]*"msg":"config reloaded"/);
  });

  test('a change that needs a restart is logged as such, and the rest of the config applies', async () => {
    const otherPort = await freePort();
    await replaceFile(configFile, configText(pushRules(BOB.user)).replace(`127.0.0.1:${port}`, `127.0.0.1:${otherPort}`));
    gate.child.kill('SIGHUP');
    assert.equal(await pollUntilEqual(() => uploadStart(url, BOB), 202, RELOAD_WAIT), 202, 'the rules applied, on the running listener');
    // The watcher sees the replaced file too; a later change it applies shows it has looked since.
    await writeFile(configFile, configText(pushRules(ALICE.user)));
    assert.equal(await pollUntilEqual(() => uploadStart(url, ALICE), 202, RELOAD_WAIT), 202, 'the watcher applied a later change');
    const restart = logLines(gate).filter(
      (line) => line.msg === 'config change needs a restart to apply; the rest of the config is applied',
    );
    assert.equal(restart.length, 1, 'logged once (the watcher, seeing the same file, adds nothing)');
    assert.ok(
      restart.every((line) => line.level === 'warn' && JSON.stringify(line.keys) === '["listen"]'),
      JSON.stringify(restart),
    );
    await assert.rejects(request(`http://127.0.0.1:${otherPort}/v2/`), 'nothing listens on the new address before a restart');
  });

  test('no password appears in the output', () => {
    const output = gate.output();
    for (const secret of [ALICE.password, BOB.password]) assert.ok(!output.includes(secret), 'a password was logged');
  });
});

describe('config reload with two workers', () => {
  let dir: string;
  let registry: RunningDistribution;
  let gate: GateProcess;

  before(async () => {
    dir = await makeTempDir('rg-reload-workers-');
    registry = await startDistribution({ dir: join(dir, 'distribution') });
    await writeHtpasswd(join(dir, 'htpasswd'), { [ALICE.user]: ALICE.password, [BOB.user]: BOB.password }, 4);
  });

  after(async () => {
    await gate.stop();
    await registry.stop();
    if (dir) await removeDir(dir);
  });

  test('every worker applies the change, and the primary serves the metrics of both', async () => {
    const [port, metricsPort] = [await freePort(), await freePort()];
    const url = `http://127.0.0.1:${port}`;
    const configFile = join(dir, 'registry-gate.yaml');
    const text = (pusher: string) =>
      `listen: "127.0.0.1:${port}"\ntls: off\nworkers: 2\nupstream: { url: "${registry.url}" }\nauth: { htpasswd: htpasswd }\n` +
      `metrics: { listen: "127.0.0.1:${metricsPort}" }\nlog: { level: info, format: json, access: false }\naudit: { enabled: false }\n${pushRules(pusher)}`;
    await writeFile(configFile, text(ALICE.user));
    gate = await startGateProcess(['--config', configFile], { cwd: dir, url });

    await replaceFile(configFile, text(BOB.user));
    gate.child.kill('SIGHUP');
    const reloads = await pollUntilEqual(() => Promise.resolve(logLines(gate).filter((line) => line.msg === 'config reloaded').length), 2, {
      ...RELOAD_WAIT,
      timeoutMs: 20_000,
    });
    assert.equal(reloads, 2, `one reload per worker; output:\n${gate.output()}`);
    // Connections are spread over the workers: every one of them answers under the new rules.
    const answers: number[] = [];
    for (let i = 0; i < 12; i++) answers.push(await uploadStart(url, BOB));
    assert.deepEqual(new Set(answers), new Set([202]), `answers ${answers.join(' ')}; output:\n${gate.output()}`);

    const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    assert.equal(
      await sampleValue(metricsUrl, 'registry_gate_config_reloads_total{result="ok"}'),
      2,
      'one reload in each of the two workers, added up',
    );
    const requests = await sampleValue(metricsUrl, 'registry_gate_requests_total{kind="upload-start",method="POST",status="202"}');
    assert.equal(requests, 12, 'the requests of both workers, added up');
  });
});
