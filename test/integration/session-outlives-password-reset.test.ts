/**
 * A UI session and a refresh token end when the credential they were issued for does.
 *
 * The attack: a password is stolen. The thief logs in to the web UI and asks the token endpoint for
 * a refresh token (what `docker login` keeps with a token server; it lives 30 days). The
 * administrator does what one does then: `htpasswd -B` gives the user a new password (or the
 * directory does, for an LDAP user). Basic with the old password was refused from then on, but the
 * thief's UI session stayed signed in and the refresh token went on getting access tokens for its
 * whole lifetime: both were re-checked only for the user's existence, not for the credential. Now
 * both carry a stamp of the credential they were issued for, and are refused within 2 seconds of
 * the change. When a session or a refresh token was stolen but not the password,
 * `registry-gate token revoke --user NAME` ends everything issued to the user until then.
 *
 * Kept beside them as guards (these held before): a deleted user, and a user removed from the group
 * that granted access, which loses that access in the UI and at the next refresh.
 *
 * Everything runs through the gateway as production assembles it (startRegistryGate from a
 * config), with Debian's `htpasswd`, the real CLI, a real group file and a real OpenLDAP.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { makeTempDir, removeDir, runProcess } from '../helpers/process.js';
import { startGate, basic, type TestGate } from '../helpers/gate.js';
import { CLI } from '../helpers/gate-process.js';
import { RegistryClient } from '../helpers/registry-client.js';
import { startSlapd, sshaHash, type RunningSlapd } from '../helpers/slapd.js';
import { UiClient } from '../helpers/ui-client.js';
import { waitFor } from '../helpers/wait.js';

const SERVICE = 'registry-gate.test';
const SHARED_SCOPE = 'repository:shared/app:pull';
const TEAM_SCOPE = 'repository:team/app:pull';
const ACCESS = [
  { repository: 'shared/**', actions: ['pull'], subjects: ['authenticated'] },
  { repository: 'team/**', actions: ['pull'], subjects: ['group:team'] },
  { repository: '**', actions: ['pull', 'push'], subjects: ['user:pusher'] },
];
/** "Within 2 seconds on every replica": the htpasswd and group files are watched (inotify, and a stat every second). */
const WITHIN = { timeoutMs: 2000, intervalMs: 100 };

/** The name the UI's header shows, or null for an anonymous visitor. */
async function signedInAs(client: UiClient): Promise<string | null> {
  const reply = await client.get('/ui/');
  assert.equal(reply.status, 200);
  return /Signed in as <strong>([^<]*)<\/strong>/.exec(reply.body)?.[1] ?? null;
}

async function uiSession(gate: TestGate, user: string, password: string): Promise<UiClient> {
  const client = new UiClient(gate.url, gate.dispatcher);
  const reply = await client.logIn(user, password);
  assert.equal(reply.status, 303, `${user} logs in to the UI`);
  assert.equal(await signedInAs(client), user);
  return client;
}

interface TokenReply {
  status: number;
  scope: string | undefined;
  refreshToken: string | undefined;
}

async function tokenForm(gate: TestGate, form: Record<string, string>): Promise<TokenReply> {
  const response = await request(`${gate.url}/auth/token`, {
    method: 'POST',
    dispatcher: gate.dispatcher,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ service: SERVICE, client_id: 'password-reset-tests', ...form }).toString(),
  });
  const body = (await response.body.json()) as { scope?: string; refresh_token?: string };
  return { status: response.statusCode, scope: body.scope, refreshToken: body.refresh_token };
}

async function refreshToken(gate: TestGate, user: string, password: string, scope = SHARED_SCOPE): Promise<string> {
  const reply = await tokenForm(gate, { grant_type: 'password', username: user, password, access_type: 'offline', scope });
  assert.equal(reply.status, 200, `${user} logs in at the token endpoint`);
  assert.ok(reply.refreshToken, `${user} gets a refresh token`);
  return reply.refreshToken;
}

function refresh(gate: TestGate, token: string, scope = SHARED_SCOPE): Promise<TokenReply> {
  return tokenForm(gate, { grant_type: 'refresh_token', refresh_token: token, scope });
}

/** Waits (2 s at most) until neither the UI session nor the refresh token gets anything. */
async function bothEnd(gate: TestGate, session: UiClient, token: string, what: string): Promise<void> {
  const outcomes = await Promise.allSettled([
    waitFor(`${what}: the UI session signed out`, async () => (await signedInAs(session)) === null, WITHIN),
    waitFor(`${what}: the refresh token refused`, async () => (await refresh(gate, token)).status === 401, WITHIN),
  ]);
  const failures = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [String(outcome.reason)] : []));
  assert.deepEqual(failures, [], 'both end');
}

async function htpasswd(...args: string[]): Promise<void> {
  const result = await runProcess('htpasswd', args, { timeoutMs: 30_000 });
  assert.equal(result.code, 0, result.stderr);
}

describe('htpasswd users', () => {
  const users = {
    alice: 'alice-Reset-pw-1',
    bob: 'bob-Reset-pw-2',
    carol: 'carol-Reset-pw-3',
    dave: 'dave-Reset-pw-4',
    pusher: 'pusher-Reset-pw-5',
  };
  let dir: string;
  let gate: TestGate;
  let groupFile: string;
  let cliConfig: string;

  before(async () => {
    dir = await makeTempDir('rg-password-reset-');
    groupFile = join(dir, 'groups');
    await writeFile(groupFile, 'team: carol\n');
    const token = { service: SERVICE, keyDir: join(dir, 'keys') };
    gate = await startGate({ dir, users, bcryptCost: 4, config: { access: ACCESS, auth: { groupFile, token } } });
    cliConfig = join(dir, 'cli.yaml');
    await writeFile(cliConfig, JSON.stringify({ dataDir: join(dir, 'data'), auth: { token } }));
    const registry = new RegistryClient(() => ({
      baseUrl: gate.url,
      authHeader: basic('pusher', users.pusher),
      dispatcher: gate.dispatcher,
    }));
    await registry.pushImage('team/app', '1');
  });

  after(async () => {
    await gate.stop();
    if (dir) await removeDir(dir);
  });

  test('`htpasswd -B` gives alice a new password: her UI session and refresh token end within 2 s', async () => {
    const session = await uiSession(gate, 'alice', users.alice);
    const token = await refreshToken(gate, 'alice', users.alice);
    assert.equal((await refresh(gate, token)).status, 200, 'the refresh token works before the reset');

    await htpasswd('-b', '-B', '-C', '4', gate.htpasswdFile, 'alice', 'alice-New-pw-after-theft');
    await bothEnd(gate, session, token, 'after the password reset');

    const renewed = await uiSession(gate, 'alice', 'alice-New-pw-after-theft');
    const renewedToken = await refreshToken(gate, 'alice', 'alice-New-pw-after-theft');
    assert.equal((await refresh(gate, renewedToken)).scope, SHARED_SCOPE, 'a refresh token from the new password works');
    assert.equal(await signedInAs(renewed), 'alice', 'and so does a session from the new password');
  });

  test('`htpasswd -D` deletes bob: his UI session and refresh token end within 2 s', async () => {
    const session = await uiSession(gate, 'bob', users.bob);
    const token = await refreshToken(gate, 'bob', users.bob);
    await htpasswd('-D', gate.htpasswdFile, 'bob');
    await bothEnd(gate, session, token, 'after the deletion');
  });

  test('carol removed from the group that granted her team/app: the UI and a refresh stop granting it within 2 s', async () => {
    const session = await uiSession(gate, 'carol', users.carol);
    const token = await refreshToken(gate, 'carol', users.carol, TEAM_SCOPE);
    assert.equal((await session.get('/ui/r/team/app')).status, 200, 'her group lets her see team/app');
    assert.equal((await refresh(gate, token, TEAM_SCOPE)).scope, TEAM_SCOPE);

    await writeFile(groupFile, 'team: someone-else\n');
    await waitFor('team/app hidden from her UI session', async () => (await session.get('/ui/r/team/app')).status === 404, WITHIN);
    await waitFor('team/app no longer granted at a refresh', async () => (await refresh(gate, token, TEAM_SCOPE)).scope === '', WITHIN);
    assert.equal(await signedInAs(session), 'carol', 'she is still a user: signed in, without what the group gave');
  });

  test('`token revoke --user dave` ends his UI sessions and refresh tokens, not his password', async () => {
    const session = await uiSession(gate, 'dave', users.dave);
    const token = await refreshToken(gate, 'dave', users.dave);
    const revoked = await runProcess(process.execPath, [CLI, 'token', 'revoke', '--user', 'dave', '-c', cliConfig], { timeoutMs: 30_000 });
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(revoked.stderr, /Revoked every UI session and refresh token of dave/);
    await bothEnd(gate, session, token, 'after token revoke --user');

    const again = await uiSession(gate, 'dave', users.dave);
    const newToken = await refreshToken(gate, 'dave', users.dave);
    assert.equal((await refresh(gate, newToken)).status, 200, 'what is issued after the revocation works');
    assert.equal(await signedInAs(again), 'dave');
    assert.equal(await signedInAs(session), null, 'the revoked session stays revoked');
  });
});

describe('LDAP users', () => {
  let dir: string;
  let slapd: RunningSlapd;
  let gate: TestGate;

  before(async () => {
    dir = await makeTempDir('rg-password-reset-ldap-');
    slapd = await startSlapd();
    gate = await startGate({
      dir,
      bcryptCost: 4,
      config: {
        access: ACCESS,
        auth: {
          providers: ['htpasswd', 'ldap'],
          ldap: {
            url: slapd.url,
            bindDN: slapd.serviceDN,
            bindPasswordFile: slapd.servicePasswordFile,
            userBase: slapd.peopleBase,
            tls: { ca: slapd.caFile },
            timeout: '2s',
          },
          token: { service: SERVICE, keyDir: join(dir, 'keys') },
        },
      },
    });
  });

  after(async () => {
    await gate.stop();
    await slapd.close();
    if (dir) await removeDir(dir);
  });

  test("the directory changes xavier's password: his UI session and refresh token end within 2 s", async () => {
    const { xavier } = slapd.users;
    const session = await uiSession(gate, 'xavier', xavier.password);
    const token = await refreshToken(gate, 'xavier', xavier.password);
    assert.equal((await refresh(gate, token)).status, 200, 'the refresh token works before the change');

    const newPassword = 'xavier-New-pw-after-theft';
    await slapd.modify(`dn: ${xavier.dn}\nchangetype: modify\nreplace: userPassword\nuserPassword: ${sshaHash(newPassword)}\n`);
    await bothEnd(gate, session, token, 'after the directory changed the password');

    const renewed = await uiSession(gate, 'xavier', newPassword);
    assert.equal((await refresh(gate, await refreshToken(gate, 'xavier', newPassword))).status, 200, 'the new password works');
    assert.equal(await signedInAs(renewed), 'xavier');
  });
});
