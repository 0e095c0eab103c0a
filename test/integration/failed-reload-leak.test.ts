/**
 * A reload that fails leaves nothing running. The attack: an operator (or a deployment tool in a
 * loop) applies a config that cannot be built — here a token key directory that is a file, found
 * only after the htpasswd file, the robot store and the user revocation list were opened and
 * watched, and an upstream CA that is not there, found after the whole identity stage was built. Each failed
 * build used to leave its file watchers and polls running, so a few hundred reloads exhausted
 * the process's file descriptors and kept timers firing for ever. Now every build registers what it
 * opens on one close stack and unwinds it on failure: after 20 failed reloads the process holds
 * the same file descriptors and the same kinds and numbers of handles as before, and the gateway
 * still answers under the config it had.
 */
import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { buildConfig, type Config } from '../../src/config/load.js';
import { silentLoggers } from '../../src/log.js';
import { startRegistryGate, type RunningGate } from '../../src/assembly/app.js';
import { basic, writeHtpasswd } from '../helpers/gate.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { startDistribution, type RunningDistribution } from '../helpers/distribution.js';
import { setTimeout as pause } from 'node:timers/promises';

const ALICE = { user: 'alice', password: 'alice-Reload-leak-1' };
const RELOADS = 20;

let dir: string;
let distribution: RunningDistribution;
let gate: RunningGate | undefined;
/** The config the next reload reads: what the test says it is. */
let nextRaw: Record<string, unknown>;

function raw(extra: { auth?: Record<string, unknown>; upstream?: Record<string, unknown> } = {}): Record<string, unknown> {
  return {
    listen: '127.0.0.1:0',
    dataDir: join(dir, 'data'),
    tls: 'off',
    upstream: { url: distribution.url, ...extra.upstream },
    auth: { htpasswd: join(dir, 'htpasswd'), token: {}, ...extra.auth },
    access: [{ repository: '**', actions: ['pull', 'push'], subjects: ['authenticated'] }],
    log: { level: 'silent' },
    audit: { enabled: false },
  };
}

const load = (): Promise<Config> => Promise.resolve(buildConfig(nextRaw, dir, undefined));

/** How long each phase lasts after its work, so that polls run and closes settle. */
const SETTLE_MS = 1500;

/** The process's open file descriptors. */
async function openFds(): Promise<number> {
  return (await readdir('/proc/self/fd')).length;
}

/**
 * The kinds of resource that run on their own once made: timers, file watchers, sockets. (Async
 * requests and file handles are reported destroyed only when garbage-collected, so they are
 * counted through the file descriptors instead.)
 */
const RUNNING_KINDS = new Set(['Timeout', 'FSEVENTWRAP', 'STATWATCHER', 'TCPWRAP', 'TCPSERVERWRAP', 'TLSWRAP', 'PIPEWRAP']);

/** Runs `work`, waits SETTLE_MS, and counts by kind the running resources made meanwhile that are still alive. */
async function aliveAfter(work: () => Promise<void>): Promise<Record<string, number>> {
  const alive = new Map<number, string>();
  const hook = createHook({
    init(id, type) {
      if (RUNNING_KINDS.has(type)) alive.set(id, type);
    },
    destroy(id) {
      alive.delete(id);
    },
  }).enable();
  try {
    await work();
    await pause(SETTLE_MS);
  } finally {
    hook.disable();
  }
  const counts: Record<string, number> = {};
  for (const type of alive.values()) counts[type] = (counts[type] ?? 0) + 1;
  return counts;
}

async function status(url: string): Promise<number> {
  const response = await request(`${url}/v2/`, { headers: { authorization: basic(ALICE.user, ALICE.password) } });
  await response.body.dump();
  return response.statusCode;
}

before(async () => {
  dir = await makeTempDir('rg-reload-leak-');
  distribution = await startDistribution({ dir: join(dir, 'distribution') });
  await writeHtpasswd(join(dir, 'htpasswd'), { [ALICE.user]: ALICE.password }, 4);
  await mkdir(join(dir, 'data'), { recursive: true });
  nextRaw = raw();
  gate = await startRegistryGate(await load(), silentLoggers(), { loadConfig: load });
});

after(async () => {
  await gate?.close();
  await distribution.stop();
  await removeDir(dir);
});

test('20 failed reloads leave no watcher, timer or descriptor behind', async () => {
  const url = gate!.url;
  assert.equal(await status(url), 200);
  const fdsBefore = await openFds();
  const idle = await aliveAfter(() => Promise.resolve());
  const reloads = await aliveAfter(async () => {
    for (let i = 0; i < RELOADS; i++) {
      nextRaw =
        i % 2 === 0
          ? raw({ auth: { token: { robots: join(dir, 'htpasswd', 'robots.json') } } })
          : raw({ upstream: { ca: join(dir, `no-such-ca-${i}.pem`) } });
      await gate!.reload(`failing ${i}`);
    }
  });
  const beyondIdle = Object.fromEntries(Object.entries(reloads).filter(([type, count]) => count > (idle[type] ?? 0)));
  assert.deepEqual(
    beyondIdle,
    {},
    `alive after an idle phase: ${JSON.stringify(idle)}; after ${RELOADS} failed reloads: ${JSON.stringify(reloads)}`,
  );
  assert.ok((await openFds()) <= fdsBefore, 'no file descriptor more');
  assert.equal(await status(url), 200, 'the gateway still answers under the config it had');
});
