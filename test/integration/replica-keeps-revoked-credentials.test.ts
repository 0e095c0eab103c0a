/**
 * A revocation made on one replica reaches the others through Redis, also those whose files are
 * behind (src/auth/revocations.ts).
 *
 * The attacks, with replicas behind a load balancer sharing one Redis:
 * - an administrator revokes a leaked robot in the web UI of one replica. The UI rewrote that
 *   replica's robot store but, unlike `registry-gate token revoke`, published nothing: a replica
 *   whose copy of the store was behind (a Kubernetes Secret is re-synced every minute or so) kept
 *   accepting the robot's secret and its refresh tokens;
 * - `registry-gate token revoke --user alice` (a stolen session or refresh token) must end alice's
 *   UI sessions and refresh tokens on every replica within 2 s, including one whose copy of the key
 *   directory is behind, and one started later.
 * Here each replica has its own copy of the robot store, and the command writes its revocation to
 * a key directory no replica reads, so only Redis can tell them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { basic, startGate, writeHtpasswd, type TestGate } from '../helpers/gate.js';
import { CLI } from '../helpers/gate-process.js';
import { makeTempDir, removeDir, runProcess } from '../helpers/process.js';
import { startRedis, type RunningRedis } from '../helpers/redis.js';
import { UiClient } from '../helpers/ui-client.js';
import { waitFor } from '../helpers/wait.js';
import { createRobot } from '../../src/auth/token/robots.js';

const SERVICE = 'registry-gate';
const KEY_PREFIX = 'replica-revocation-test:';
const USERS = { alice: 'alice-Replica-pw-1', admin: 'admin-Replica-pw-2' };
const WITHIN = { timeoutMs: 2000, intervalMs: 50 };

let dir: string;
let redis: RunningRedis;
let htpasswd: string;
let originalRobots: string;
let robotSecret: string;
const gates: TestGate[] = [];

/** A replica: the shared htpasswd file and key directory, its own copy of the robot store as it was at the start. */
async function replica(name: string): Promise<TestGate> {
  const robots = join(dir, `${name}-robots.json`);
  await copyFile(originalRobots, robots);
  const gate = await startGate({
    dir: join(dir, name),
    bcryptCost: 4,
    config: {
      auth: { htpasswd, token: { service: SERVICE, robots, keyDir: join(dir, 'keys') } },
      redis: { url: redis.url, keyPrefix: KEY_PREFIX },
      groups: { admins: ['admin'] },
      ui: { adminGroup: 'admins' },
      access: [{ repository: '**', actions: ['pull'], subjects: ['authenticated'] }],
    },
  });
  gates.push(gate);
  return gate;
}

async function tokenForm(gate: TestGate, form: Record<string, string>): Promise<{ status: number; refreshToken?: string }> {
  const response = await request(`${gate.url}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ service: SERVICE, client_id: 'replica-tests', scope: 'repository:app:pull', ...form }).toString(),
  });
  const body = (await response.body.json()) as { refresh_token?: string };
  return { status: response.statusCode, ...(body.refresh_token ? { refreshToken: body.refresh_token } : {}) };
}

async function refreshTokenOf(gate: TestGate, user: string, password: string): Promise<string> {
  const reply = await tokenForm(gate, { grant_type: 'password', username: user, password, access_type: 'offline' });
  assert.equal(reply.status, 200, `${user} logs in at the token endpoint`);
  assert.ok(reply.refreshToken);
  return reply.refreshToken;
}

async function refreshStatus(gate: TestGate, token: string): Promise<number> {
  return (await tokenForm(gate, { grant_type: 'refresh_token', refresh_token: token })).status;
}

async function signedInAs(client: UiClient): Promise<string | null> {
  const reply = await client.get('/ui/');
  return /Signed in as <strong>([^<]*)<\/strong>/.exec(reply.body)?.[1] ?? null;
}

async function uiLogin(gate: TestGate, user: keyof typeof USERS): Promise<UiClient> {
  const client = new UiClient(gate.url);
  assert.equal((await client.logIn(user, USERS[user])).status, 303, `${user} logs in to the UI`);
  return client;
}

async function robotLogin(gate: TestGate): Promise<number> {
  const response = await request(`${gate.url}/v2/`, { headers: { authorization: basic('robot$ci', robotSecret) } });
  await response.body.dump();
  return response.statusCode;
}

before(async () => {
  dir = await makeTempDir('rg-replica-revocation-');
  redis = await startRedis();
  htpasswd = join(dir, 'htpasswd');
  await writeHtpasswd(htpasswd, USERS, 4);
  originalRobots = join(dir, 'robots.json');
  robotSecret = (await createRobot(originalRobots, { name: 'ci', scopes: ['repository:app:pull'], expires: null })).secret;
});

after(async () => {
  for (const gate of gates) await gate.stop();
  await redis.close();
  if (dir) await removeDir(dir);
});

describe('two replicas on one Redis', () => {
  let here: TestGate;
  let there: TestGate;

  before(async () => {
    here = await replica('here');
    there = await replica('there');
  });

  test('a robot revoked in the UI here is refused there within 2 s, though its robot store still lists it', async () => {
    assert.equal(await robotLogin(there), 200, 'the robot works there (and is now in its credential cache)');
    const robotToken = await refreshTokenOf(there, 'robot$ci', robotSecret);

    const admin = await uiLogin(here, 'admin');
    const revoked = await admin.post('/ui/robots/revoke', { name: 'ci' }, { tokenFrom: '/ui/robots' });
    assert.equal(revoked.status, 303, 'revoked in the UI');

    await waitFor('the robot refused there', async () => (await robotLogin(there)) === 401, WITHIN);
    await waitFor("the robot's refresh token refused there", async () => (await refreshStatus(there, robotToken)) === 401, WITHIN);
  });

  test('`token revoke --user alice`, run with another copy of the key directory: her session and refresh token end on both within 2 s', async () => {
    const sessions = [await uiLogin(here, 'alice'), await uiLogin(there, 'alice')];
    const tokens = [await refreshTokenOf(here, 'alice', USERS.alice), await refreshTokenOf(there, 'alice', USERS.alice)];
    assert.equal(await signedInAs(sessions[1] as UiClient), 'alice');
    assert.equal(await refreshStatus(here, tokens[1] as string), 200, "one replica refreshes the other's token");

    const cliConfig = join(dir, 'cli.yaml');
    await writeFile(
      cliConfig,
      JSON.stringify({ auth: { token: { keyDir: join(dir, 'cli-keys') } }, redis: { url: redis.url, keyPrefix: KEY_PREFIX } }),
    );
    const revoked = await runProcess(process.execPath, [CLI, 'token', 'revoke', '--user', 'alice', '-c', cliConfig], {
      cwd: dir,
      timeoutMs: 30_000,
    });
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(revoked.stderr, /Published to every replica through Redis/);

    for (const [index, gate] of [here, there].entries()) {
      const session = sessions[index] as UiClient;
      const token = tokens[index] as string;
      await waitFor(`alice's UI session over on replica ${String(index + 1)}`, async () => (await signedInAs(session)) === null, WITHIN);
      await waitFor(
        `alice's refresh token refused on replica ${String(index + 1)}`,
        async () => (await refreshStatus(gate, token)) === 401,
        WITHIN,
      );
    }

    const late = await replica('late');
    assert.equal(await refreshStatus(late, tokens[1] as string), 401, 'a replica started later knows it from Redis at once');
    assert.equal(await refreshStatus(late, await refreshTokenOf(late, 'alice', USERS.alice)), 200, 'a new login of hers works');
  });
});
