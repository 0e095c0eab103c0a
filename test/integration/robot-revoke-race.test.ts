/**
 * A revoked robot, or a revoked user, must never come back. robots.json is read, changed and
 * replaced by the `token revoke` command and by the web UI's robot page (an admin making a robot)
 * alike, and revoked-users.json by every `token revoke --user`. Neither took a lock shared across
 * processes, so a write that had read the file just before a revocation replaced it put the old
 * list back: the administrator saw "Revoked", the robot's secret kept working; or of two users
 * revoked at once, one was not. Here the command revokes one robot per round while an admin makes
 * robots through the UI as fast as the server takes them, then several users are revoked at once;
 * afterwards every revoked robot is refused at /v2/ and every user revocation is recorded.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { basic } from '../helpers/gate.js';
import { CLI, startConfiguredGateProcess, type ConfiguredGateProcess } from '../helpers/gate-process.js';
import { makeTempDir, removeDir, runProcess } from '../helpers/process.js';
import { UiClient } from '../helpers/ui-client.js';
import { pollUntil } from '../helpers/wait.js';

const PASSWORDS = { admin: 'admin-race-pw-1' } as const;
const ROUNDS = 30;
const ROUNDS_BUDGET_MS = 90_000;
const MIN_ROUNDS = 5;
const CREATORS = 4;
const MAX_CREATIONS_PER_ROUND = 6;
const USERS_REVOKED_AT_ONCE = 8;

describe('revocations from the command line while others write the same file', () => {
  let dir: string;
  let gate: ConfiguredGateProcess;

  const token = (args: string[]) =>
    runProcess(process.execPath, [CLI, 'token', ...args, '-c', gate.configFile], { cwd: dir, timeoutMs: 30_000 });
  const v2 = async (user: string, secret: string): Promise<number> => {
    const response = await request(`${gate.url}/v2/`, { headers: { authorization: basic(user, secret) } });
    await response.body.dump();
    return response.statusCode;
  };
  const signedIn = async (): Promise<UiClient> => {
    const ui = new UiClient(gate.url);
    assert.equal((await ui.logIn('admin', PASSWORDS.admin)).status, 303);
    return ui;
  };
  /** Makes a robot through the UI's form; its secret. */
  const makeRobot = async (ui: UiClient, name: string): Promise<string> => {
    const reply = await ui.post('/ui/robots', { name, scopes: 'repository:shared/*:pull', expires: '7' }, { tokenFrom: '/ui/robots' });
    assert.equal(reply.status, 201, `create robot ${name}: ${reply.status}`);
    const secret = /<code id="robot-secret">(rgr_[^<]+)<\/code>/.exec(reply.body)?.[1];
    assert.ok(secret, 'the create page shows the secret');
    return secret;
  };

  before(async () => {
    dir = await makeTempDir('rg-robot-race-');
    gate = await startConfiguredGateProcess({
      dir,
      users: PASSWORDS,
      config: {
        tls: 'off',
        dataDir: './data',
        // Every revoked robot is tried at once at the end: the login throttle would answer 429, not whether it is refused.
        auth: { htpasswd: './htpasswd', throttle: { enabled: false } },
        groups: { admins: ['admin'] },
        ui: { adminGroup: 'admins' },
        log: { level: 'warn' },
        audit: { enabled: false },
      },
    });
  });
  after(async () => {
    await gate.stop();
    await removeDir(dir);
  });

  test('every robot revoked with `token revoke` is refused afterwards, while the UI made robots', async () => {
    const admin = await signedIn();
    const targets: Array<{ name: string; secret: string }> = [];
    for (let round = 0; round < ROUNDS; round++)
      targets.push({ name: `target-${round}`, secret: await makeRobot(admin, `target-${round}`) });
    assert.equal(await v2('robot$target-0', targets[0]?.secret as string), 200, 'a robot works before it is revoked');

    const creators = await Promise.all(Array.from({ length: CREATORS }, () => signedIn()));
    const revoked: Array<{ name: string; secret: string }> = [];
    const started = Date.now();
    for (const [round, target] of targets.entries()) {
      if (round >= MIN_ROUNDS && Date.now() - started > ROUNDS_BUDGET_MS) break;
      let revoking = true;
      const revocation = token(['revoke', target.name]).finally(() => (revoking = false));
      const creating = creators.map(async (ui, creator) => {
        for (let made = 0; revoking && made < MAX_CREATIONS_PER_ROUND; made++) await makeRobot(ui, `made-${round}-${creator}-${made}`);
      });
      const [outcome] = await Promise.all([revocation, ...creating]);
      assert.equal(outcome.code, 0, outcome.stderr);
      revoked.push(target);
    }
    assert.ok(revoked.length >= MIN_ROUNDS, `only ${revoked.length} rounds ran`);

    const listed = await token(['list', '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    const names = new Set((JSON.parse(listed.stdout) as Array<{ name: string }>).map((robot) => robot.name));
    const resurrected = revoked.filter((robot) => names.has(`robot$${robot.name}`)).map((robot) => robot.name);
    assert.deepEqual(resurrected, [], `${resurrected.length} of ${revoked.length} revoked robots are back in the store`);
    // The server reads the file within its watch (2 s); a robot put back would be accepted for good.
    const accepted = await pollUntil(
      async () => {
        const statuses = await Promise.all(
          revoked.map(async (robot) => ({ name: robot.name, status: await v2(`robot$${robot.name}`, robot.secret) })),
        );
        return statuses.filter(({ status }) => status !== 401).map(({ name, status }) => `${name} ${status}`);
      },
      (left) => left.length === 0,
      { timeoutMs: 6000, intervalMs: 250 },
    );
    assert.deepEqual(accepted, [], 'revoked robots still accepted at /v2/');
  });

  test('users revoked with `token revoke --user` at the same time are all recorded', async () => {
    const users = Array.from({ length: USERS_REVOKED_AT_ONCE }, (_, index) => `user${index}`);
    const outcomes = await Promise.all(users.map((user) => token(['revoke', '--user', user])));
    for (const outcome of outcomes) assert.equal(outcome.code, 0, outcome.stderr);
    const recorded = JSON.parse(await readFile(join(dir, 'data', 'token', 'revoked-users.json'), 'utf8')) as {
      users: Record<string, number>;
    };
    assert.deepEqual(Object.keys(recorded.users).sort(), users, 'every revoked user is in the list');
  });
});
