/**
 * Logs people can ship: the real CLI, with stdout a pipe as under journald or `docker logs`. Every
 * stdout line is one JSON object of one shape — ISO-8601 `time`, a level name, `log` saying which
 * stream (app, access, audit) — and nothing else reaches stdout: the listening banner goes to
 * stderr. An upstream failure names the upstream and the request path.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { jsonLines } from '../helpers/log-lines.js';
import { request } from 'undici';
import { freePort, makeTempDir, removeDir } from '../helpers/process.js';
import { makeTlsPair, trustingAgent, type TlsPair } from '../helpers/tls.js';
import { basic, writeHtpasswd } from '../helpers/gate.js';
import { startConfiguredGateProcess } from '../helpers/gate-process.js';
import { pollUntil } from '../helpers/wait.js';

const ALICE = { user: 'alice', password: 'alice-L0g-secret' };
const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal']);

/** Polls until `done` holds for the process's stdout lines (pino writes asynchronously). */
async function waitForLines(
  read: () => string,
  done: (lines: Array<Record<string, unknown>>) => boolean,
): Promise<Array<Record<string, unknown>>> {
  return pollUntil(() => Promise.resolve(jsonLines(read())), done, { intervalMs: 50 });
}

describe('log lines', () => {
  let dir: string;
  let tls: TlsPair;

  before(async () => {
    dir = await makeTempDir('rg-logs-');
    tls = await makeTlsPair(join(dir, 'tls'));
    await writeHtpasswd(join(dir, 'htpasswd'), { [ALICE.user]: ALICE.password }, 4);
  });
  after(async () => removeDir(dir));

  test('app, access and audit lines share one JSON shape on stdout; the banner is on stderr', async () => {
    const gate = await startConfiguredGateProcess({
      dir,
      file: 'builtin.yaml',
      config: {
        tls: { cert: tls.certFile, key: tls.keyFile },
        auth: { htpasswd: 'htpasswd' },
        access: [{ repository: '**', actions: ['pull'], subjects: ['authenticated'] }],
        dataDir: 'data',
      },
    });
    const dispatcher = trustingAgent(tls.caPem);
    try {
      const authorization = basic(ALICE.user, ALICE.password);
      const ping = await request(`${gate.url}/v2/`, { dispatcher, headers: { authorization } });
      await ping.body.dump();
      assert.equal(ping.statusCode, 200);
      const refused = await request(`${gate.url}/v2/team/app/manifests/v1`, { method: 'DELETE', dispatcher, headers: { authorization } });
      await refused.body.dump();
      assert.equal(refused.statusCode, 403, 'a delete without the right is refused (and audited)');

      const lines = await waitForLines(
        () => gate.streamOutput('stdout'),
        (found) => ['app', 'access', 'audit'].every((log) => found.some((line) => line.log === log)),
      );
      for (const line of lines) {
        assert.match(String(line.time), ISO_TIME, `time is ISO-8601: ${JSON.stringify(line)}`);
        assert.ok(LEVELS.has(String(line.level)), `level is a name: ${JSON.stringify(line)}`);
        assert.ok(['app', 'access', 'audit'].includes(String(line.log)), `log names the stream: ${JSON.stringify(line)}`);
        assert.equal(line.pid, gate.child.pid);
      }
      const access = lines.find((line) => line.log === 'access' && line.path === '/v2/');
      assert.ok(access, 'the access line of GET /v2/');
      assert.equal(access.user, ALICE.user);
      const audit = lines.find((line) => line.log === 'audit' && line.decision === 'deny');
      assert.ok(audit, 'the audit line of the refused delete');
      assert.equal(audit.repository, 'team/app');
      assert.equal(audit.level, 'info');

      assert.match(gate.streamOutput('stderr'), new RegExp(`registry-gate is listening on https://127\\.0\\.0\\.1:${gate.port} `));
      assert.doesNotMatch(gate.streamOutput('stdout'), /is listening/, 'the banner is not in the log stream');
      assert.doesNotMatch(gate.output(), new RegExp(ALICE.password), 'no password in any output');
    } finally {
      await dispatcher.close();
      await gate.stop();
    }
  });

  test('an upstream failure is logged with the upstream URL and the request path', async () => {
    const closed = await freePort();
    const gate = await startConfiguredGateProcess({
      dir,
      file: 'upstream.yaml',
      config: {
        tls: { cert: tls.certFile, key: tls.keyFile },
        upstream: { url: `http://127.0.0.1:${closed}` },
        auth: { htpasswd: 'htpasswd' },
        workers: 1,
      },
    });
    const dispatcher = trustingAgent(tls.caPem);
    try {
      const response = await request(`${gate.url}/v2/team/app/manifests/v1?x=1`, {
        dispatcher,
        headers: { authorization: basic(ALICE.user, ALICE.password) },
      });
      await response.body.dump();
      assert.equal(response.statusCode, 503);
      const lines = await waitForLines(
        () => gate.streamOutput('stdout'),
        (found) => found.some((line) => line.msg === 'upstream request failed'),
      );
      const failure = lines.find((line) => line.msg === 'upstream request failed');
      assert.ok(failure, `no upstream failure line in ${JSON.stringify(lines)}`);
      assert.equal(failure.log, 'app');
      assert.equal(failure.level, 'warn');
      assert.equal(failure.upstream, `http://127.0.0.1:${closed}`);
      assert.equal(failure.path, '/v2/team/app/manifests/v1');
      assert.equal(failure.upstreamError, 'ECONNREFUSED');
    } finally {
      await dispatcher.close();
      await gate.stop();
    }
  });
});
