/**
 * The leak: a mirror holds credentials for another registry (Docker Hub's login, a robot's
 * password), and the gateway logs what happens with that registry — requests that fail, content
 * served stale, a token service it refuses. None of that may carry the password, the Basic header
 * made of it, or a token the realm issued: the real CLI at log level debug, its whole output read.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { startDistribution, type RunningDistribution } from '../helpers/distribution.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { basic, writeHtpasswd } from '../helpers/gate.js';
import { startConfiguredGateProcess, type ConfiguredGateProcess } from '../helpers/gate-process.js';
import { RegistryClient } from '../helpers/registry-client.js';
import { jsonLines } from '../helpers/log-lines.js';
import { pollUntil } from '../helpers/wait.js';

const ALICE = { user: 'alice', password: 'alice-secret-1' };
const HUB_USER = { user: 'mirror-bot', password: 'mirror-bot-Pa55-word' };

describe("a mirror's credentials never reach the log", () => {
  let dir: string;
  let hub: RunningDistribution;
  let proxy: FaultProxy;
  let gate: ConfiguredGateProcess;
  let client: RegistryClient;
  let image: { digest: string };

  before(async () => {
    dir = await makeTempDir('rg-mirror-log-');
    const hubPasswords = join(dir, 'hub-htpasswd');
    await writeHtpasswd(hubPasswords, { [HUB_USER.user]: HUB_USER.password });
    hub = await startDistribution({ dir: join(dir, 'hub'), auth: { htpasswd: { realm: 'hub', path: hubPasswords } } });
    proxy = await startFaultProxy(hub.url);
    await writeFile(join(dir, 'hub-login'), `${HUB_USER.user}:${HUB_USER.password}\n`, { mode: 0o600 });
    image = await new RegistryClient(() => ({ baseUrl: hub.url, authHeader: basic(HUB_USER.user, HUB_USER.password) })).pushImage(
      'library/app',
      'v1',
    );
    gate = await startConfiguredGateProcess({
      dir,
      users: { [ALICE.user]: ALICE.password },
      config: {
        tls: 'off',
        dataDir: join(dir, 'data'),
        auth: { htpasswd: join(dir, 'htpasswd') },
        log: { level: 'debug' },
        mirrors: [{ repository: 'hub/**', url: proxy.url, stripPrefix: 'hub/', credentialsFile: 'hub-login', timeout: '3s' }],
        access: [{ repository: '**', actions: ['pull'], subjects: ['authenticated'] }],
      },
    });
    client = new RegistryClient(() => ({ baseUrl: gate.url, authHeader: basic(ALICE.user, ALICE.password) }));
  });

  after(async () => {
    await gate.stop();
    await proxy.stop();
    await hub.stop();
    await removeDir(dir);
  });

  test('pulls, a stale serve while the registry is down, and failures log nothing of the credentials', async () => {
    assert.equal((await client.call('GET', '/v2/hub/library/app/manifests/v1')).status, 200);
    await proxy.stopListening();
    try {
      const stale = await client.call('GET', '/v2/hub/library/app/manifests/v1');
      assert.equal(stale.status, 200);
      assert.equal(stale.headers['docker-content-digest'], image.digest);
      assert.equal((await client.call('GET', `/v2/hub/library/app/blobs/sha256:${'1'.repeat(64)}`)).status, 503);
    } finally {
      await proxy.listenAgain();
    }
    const logLines = () =>
      jsonLines(
        gate
          .output()
          .split('\n')
          .filter((line) => line.startsWith('{'))
          .join('\n'),
      );
    const lines = await pollUntil(
      () => Promise.resolve(logLines()),
      (parsed) => parsed.some((line) => String(line.msg).includes('(stale)')),
      { timeoutMs: 5000 },
    );
    const staleLine = lines.find((line) => String(line.msg).includes('(stale)'));
    assert.equal(staleLine?.repository, 'library/app');
    const output = gate.output();
    const secrets = [
      HUB_USER.password,
      Buffer.from(`${HUB_USER.user}:${HUB_USER.password}`).toString('base64'),
      ALICE.password,
      basic(ALICE.user, ALICE.password).slice('Basic '.length),
    ];
    for (const secret of secrets) assert.ok(!output.includes(secret), 'a secret is in the log');
  });
});
