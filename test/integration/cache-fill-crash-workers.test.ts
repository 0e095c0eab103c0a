/**
 * The content cache run as in production (`registry-gate serve --config`, a child process): a
 * kill -9 in the middle of a fill leaves only a temp file, which is never served and is removed at
 * the next start; with `workers: 2`, concurrent pulls of one uncached blob landing on both workers
 * fetch it from the upstream once (the fill runs under the lock the primary serves).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readdir, stat } from 'node:fs/promises';
import { request } from 'undici';
import { startDistribution, type RunningDistribution } from '../helpers/distribution.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { startConfiguredGateProcess, type ConfiguredGateProcess } from '../helpers/gate-process.js';
import { basic } from '../helpers/gate.js';
import { RegistryClient, randomBlob, sha256 } from '../helpers/registry-client.js';
import { waitFor } from '../helpers/wait.js';

const ALICE = { user: 'alice', password: 'alice-secret-1' };

describe('content cache: crash during a fill, and workers', () => {
  let dir: string;
  let registry: RunningDistribution;
  let proxy: FaultProxy;
  let direct: RegistryClient;

  before(async () => {
    dir = await makeTempDir('rg-cache-proc-');
    registry = await startDistribution({ dir: join(dir, 'distribution') });
    proxy = await startFaultProxy(registry.url);
    direct = new RegistryClient(() => ({ baseUrl: registry.url }));
  });

  after(async () => {
    await proxy.stop();
    await registry.stop();
    await removeDir(dir);
  });

  function startGate(name: string, workers: number): Promise<ConfiguredGateProcess> {
    return startConfiguredGateProcess({
      dir,
      users: { [ALICE.user]: ALICE.password },
      file: `${name}.yaml`,
      config: {
        workers,
        tls: 'off',
        dataDir: join(dir, `data-${name}`),
        auth: { htpasswd: join(dir, 'htpasswd') },
        upstream: { url: proxy.url, cache: true },
        cache: { dir: join(dir, `cache-${name}`) },
        access: [{ repository: '**', actions: ['pull'], subjects: ['authenticated'] }],
        log: { level: 'warn', access: false },
        audit: { enabled: false },
      },
    });
  }

  test('kill -9 during a fill: the half-written file is never served, and is gone after the restart', async () => {
    const blob = randomBlob(64 * 1024 * 1024);
    const digest = await direct.pushBlob('crash/app', blob);
    const cacheDir = join(dir, 'cache-crash');
    let gate = await startGate('crash', 1);
    try {
      // A client that stops reading: the fill it reads along with stalls half-way, by backpressure.
      const stalled = await request(`${gate.url}/v2/crash/app/blobs/${digest}`, {
        headers: { authorization: basic(ALICE.user, ALICE.password) },
      });
      assert.equal(stalled.statusCode, 200);
      const partial = await waitFor(
        'a partly written temp file',
        async () => {
          const names = await readdir(join(cacheDir, 'tmp'));
          const sizes = await Promise.all(names.map(async (name) => (await stat(join(cacheDir, 'tmp', name))).size));
          return sizes.some((size) => size > 0 && size < blob.length) ? names : undefined;
        },
        { timeoutMs: 20_000 },
      );
      assert.equal(partial.length, 1);
      gate.child.kill('SIGKILL');
      await new Promise((resolve) => gate.child.once('exit', resolve));
      stalled.body.destroy();
      assert.deepEqual(await readdir(join(cacheDir, 'blobs', 'sha256')).catch(() => []), [], 'nothing under a digest');

      gate = await startGate('crash', 1);
      assert.deepEqual(await readdir(join(cacheDir, 'tmp')), [], 'the abandoned fill was removed at start');
      const pulled = await request(`${gate.url}/v2/crash/app/blobs/${digest}`, {
        headers: { authorization: basic(ALICE.user, ALICE.password) },
      });
      assert.equal(pulled.statusCode, 200);
      assert.equal(sha256(Buffer.from(await pulled.body.arrayBuffer())), digest);
    } finally {
      await gate.stop();
    }
  });

  test('workers: 2 — eight concurrent pulls of one uncached blob, one fetch from the upstream', async () => {
    const blob = randomBlob(16 * 1024 * 1024);
    const digest = await direct.pushBlob('workers/app', blob);
    const gate = await startGate('workers', 2);
    try {
      const replies = await Promise.all(
        Array.from({ length: 8 }, async () => {
          // A connection each, so that both workers get some of them.
          const response = await request(`${gate.url}/v2/workers/app/blobs/${digest}`, {
            headers: { authorization: basic(ALICE.user, ALICE.password), connection: 'close' },
          });
          return { status: response.statusCode, body: Buffer.from(await response.body.arrayBuffer()) };
        }),
      );
      for (const reply of replies) {
        assert.equal(reply.status, 200);
        assert.equal(sha256(reply.body), digest);
      }
      assert.equal(proxy.count('GET', digest), 1);
    } finally {
      await gate.stop();
    }
  });
});
