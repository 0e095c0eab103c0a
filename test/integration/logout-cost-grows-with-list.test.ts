/**
 * What a logout costs does not grow with the number of logouts before it.
 *
 * The attack: the UI's list of logged-out sessions (kept until they would have expired, so a
 * replayed cookie stays worthless) was one JSON file, rewritten and fsynced whole on every logout.
 * Any user could grow it by logging in and out in a loop: each logout then wrote, and every other
 * worker re-read, all of it. A few thousand loops made every logout of every user write hundreds of
 * kilobytes, and the list only shrank as its sessions expired (12 h). Now a logout appends one line
 * to a log, other workers read only what was appended, and a log of mostly expired lines is
 * rewritten only once per as many logouts as it holds.
 *
 * Measured on the real server (two workers and their primary) by what the kernel counts: the bytes
 * written by all its processes (`wchar` in /proc/PID/io) while one logout is answered, with a short
 * list and after 400 more logouts. And the log still does its job across workers: a logged-out
 * cookie, replayed on new connections (which the primary hands to either worker), is anonymous.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { readFile } from 'node:fs/promises';
import { Agent } from 'undici';
import { startConfiguredGateProcess, type ConfiguredGateProcess } from '../helpers/gate-process.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { UiClient } from '../helpers/ui-client.js';
import { waitFor } from '../helpers/wait.js';

const PASSWORD = 'alice-Logout-pw-1';
/** Logouts between the two measurements: at about 50 bytes an entry, a whole-file rewrite would then write 20 kB more. */
const LOGOUTS_BETWEEN = 400;
/** More than the few bytes of IPC and response that vary from one logout to the next, far less than 400 entries. */
const ALLOWED_GROWTH_BYTES = 1024;

let dir: string;
let gate: ConfiguredGateProcess;
let pids: number[];

async function bytesWritten(): Promise<number> {
  const counts = await Promise.all(
    pids.map(async (pid) => Number(/^wchar: (\d+)$/m.exec(await readFile(`/proc/${String(pid)}/io`, 'utf8'))?.[1] ?? Number.NaN)),
  );
  return counts.reduce((sum, count) => sum + count, 0);
}

async function workerPids(pid: number): Promise<number[]> {
  const children = await readFile(`/proc/${String(pid)}/task/${String(pid)}/children`, 'utf8');
  return children.split(/\s+/).filter(Boolean).map(Number);
}

/** Logs in, then out; with `measure`, the bytes the server's processes wrote while the logout was answered. */
async function loginLogout(measure: boolean): Promise<{ written: number; cookie: string }> {
  const client = new UiClient(gate.url);
  assert.equal((await client.logIn('alice', PASSWORD)).status, 303);
  const cookie = client.cookies.get('rg_session') ?? '';
  const csrf = await client.csrfToken('/ui/');
  const before = measure ? await bytesWritten() : 0;
  const reply = await client.call('POST', '/ui/logout', {
    body: new URLSearchParams({ csrf }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  const written = measure ? (await bytesWritten()) - before : 0;
  assert.equal(reply.status, 303, 'logged out');
  return { written, cookie };
}

async function medianLogoutCost(): Promise<number> {
  const costs: number[] = [];
  for (let round = 0; round < 5; round += 1) costs.push((await loginLogout(true)).written);
  costs.sort((a, b) => a - b);
  return costs[2] as number;
}

before(async () => {
  dir = await makeTempDir('rg-logout-cost-');
  gate = await startConfiguredGateProcess({
    dir,
    users: { alice: PASSWORD },
    timeoutMs: 30_000,
    config: {
      tls: 'off',
      dataDir: 'data',
      auth: { htpasswd: 'htpasswd' },
      workers: 2,
      log: { level: 'warn', access: false },
      audit: { enabled: false },
    },
  });
  const workers = await waitFor('two workers', async () => {
    const found = await workerPids(gate.child.pid ?? 0);
    return found.length === 2 && found;
  });
  pids = [gate.child.pid ?? 0, ...workers];
});

after(async () => {
  await gate.stop();
  if (dir) await removeDir(dir);
});

test('a logout writes as much after 400 logouts as after none', async () => {
  const early = await medianLogoutCost();
  for (let logout = 0; logout < LOGOUTS_BETWEEN; logout += 1) await loginLogout(false);
  const late = await medianLogoutCost();
  assert.ok(early > 0, 'the measurement sees the logout');
  assert.ok(
    late - early < ALLOWED_GROWTH_BYTES,
    `a logout wrote ${String(early)} bytes first, ${String(late)} after ${String(LOGOUTS_BETWEEN)} more`,
  );
});

test('a logged-out cookie replayed on new connections, whichever worker takes them, is anonymous within 2 s', async () => {
  const { cookie } = await loginLogout(false);
  await waitFor(
    'every worker refuses the logged-out session',
    async () => {
      for (let connection = 0; connection < 4; connection += 1) {
        const agent = new Agent({ pipelining: 0 });
        const replay = new UiClient(gate.url, agent);
        replay.cookies.set('rg_session', cookie);
        const page = await replay.get('/ui/');
        await agent.close();
        if (page.body.includes('Signed in as')) return false;
      }
      return true;
    },
    { timeoutMs: 2000, intervalMs: 100 },
  );
});
