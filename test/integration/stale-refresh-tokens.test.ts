/**
 * Refresh tokens must not outlive the account they were issued to.
 *
 * The attacks (bearer mode, `POST /auth/token grant_type=refresh_token`): a user logs in once with
 * `offline_token=true` (or the password grant with `access_type=offline`) and keeps the refresh
 * token. Then
 * - the administrator deletes the user (`registry-gate htpasswd delete`, `ldapdelete`): the refresh
 *   token went on issuing `repository:…:pull,push` tokens for its whole 30-day lifetime;
 * - the user is removed from a group (group file, LDAP group): a refresh went on granting that
 *   group's rights, because the groups were read from the refresh token instead of from the sources;
 * - a robot is revoked and a new robot is made under the same name (`token revoke ci`, then
 *   `token create --name ci`): the old robot's refresh tokens worked again, for the new robot.
 * A refresh must ask the provider again (the htpasswd file as last read, the directory as the
 * service account, the robot store, by the robot's id) and compute the groups afresh; a subject
 * that is gone gets 401, and a directory that cannot answer gets 503, never a token. A user that
 * only an SSO proxy vouches for gets no refresh token at all: no provider could re-check it later.
 *
 * Everything runs through the gateway as production assembles it (startRegistryGate from a config),
 * against the real CLI, a real group file, a real robot store and a real OpenLDAP.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { makeTempDir, removeDir, runProcess } from '../helpers/process.js';
import { startGate, basic, type TestGate } from '../helpers/gate.js';
import { CLI } from '../helpers/gate-process.js';
import { startSlapd, type RunningSlapd } from '../helpers/slapd.js';
import { createRobot, revokeRobot } from '../../src/auth/token/robots.js';
import { pollUntil } from '../helpers/wait.js';

const SERVICE = 'registry-gate.test';
const PUSH_SCOPE = 'repository:team/app:pull,push';
const ACCESS = [
  { repository: '**', actions: ['pull'], subjects: ['authenticated'] },
  { repository: '**', actions: ['pull', 'push'], subjects: ['group:pushers'] },
  { repository: 'ci/**', actions: ['pull', 'push'], subjects: ['user:robot$ci'] },
];

interface TokenReply {
  status: number;
  code: string | undefined;
  scope: string | undefined;
  refreshToken: string | undefined;
}

async function tokenReply(response: Awaited<ReturnType<typeof request>>): Promise<TokenReply> {
  const body = (await response.body.json()) as { scope?: string; refresh_token?: string; errors?: Array<{ code: string }> };
  return { status: response.statusCode, code: body.errors?.[0]?.code, scope: body.scope, refreshToken: body.refresh_token };
}

async function postForm(gate: TestGate, form: Record<string, string>): Promise<TokenReply> {
  const response = await request(`${gate.url}/auth/token`, {
    method: 'POST',
    dispatcher: gate.dispatcher,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ service: SERVICE, client_id: 'stale-refresh-tests', ...form }).toString(),
  });
  return tokenReply(response);
}

/**
 * A login that asks for a refresh token: the OAuth2 password grant with access_type=offline, or
 * (the docker CLI's way) GET with Basic credentials and offline_token=true.
 */
async function offlineLogin(
  gate: TestGate,
  user: string,
  password: string,
  scope = PUSH_SCOPE,
  flow: 'password-grant' | 'basic-get' = 'password-grant',
): Promise<{ scope: string; refreshToken: string }> {
  const reply =
    flow === 'password-grant'
      ? await postForm(gate, { grant_type: 'password', username: user, password, access_type: 'offline', scope })
      : await tokenReply(
          await request(`${gate.url}/auth/token?${new URLSearchParams({ service: SERVICE, scope, offline_token: 'true' }).toString()}`, {
            dispatcher: gate.dispatcher,
            headers: { authorization: basic(user, password) },
          }),
        );
  assert.equal(reply.status, 200, `${user} logs in`);
  assert.ok(reply.refreshToken, `${user} gets a refresh token`);
  return { scope: reply.scope ?? '', refreshToken: reply.refreshToken };
}

function refresh(gate: TestGate, refreshToken: string, scope = PUSH_SCOPE): Promise<TokenReply> {
  return postForm(gate, { grant_type: 'refresh_token', refresh_token: refreshToken, scope });
}

/** Refreshes every 100 ms until `done` holds or `ms` have passed; the last reply. */
function refreshUntil(gate: TestGate, refreshToken: string, done: (reply: TokenReply) => boolean, ms = 2000): Promise<TokenReply> {
  return pollUntil(() => refresh(gate, refreshToken), done, { timeoutMs: ms, intervalMs: 100 });
}

describe('refresh tokens of htpasswd users, group-file groups and robots', () => {
  const users = { alice: 'alice-Refresh-secret-1', dave: 'dave-Refresh-secret-2' };
  let dir: string;
  let gate: TestGate;
  let groupFile: string;
  let robots: string;
  let robotSecret: string;

  before(async () => {
    dir = await makeTempDir('rg-stale-refresh-');
    groupFile = join(dir, 'groups');
    await writeFile(groupFile, 'pushers: alice dave\n');
    robots = join(dir, 'robots.json');
    robotSecret = (await createRobot(robots, { name: 'ci', scopes: ['repository:ci/*:pull,push'], expires: null })).secret;
    gate = await startGate({
      dir,
      users,
      bcryptCost: 4,
      config: {
        access: ACCESS,
        // The test client is the SSO proxy too, for the last test.
        trustedProxies: ['127.0.0.1/32'],
        auth: {
          scheme: 'bearer',
          groupFile,
          trustedHeader: { user: 'X-Forwarded-User' },
          token: { service: SERVICE, keyDir: join(dir, 'keys'), robots },
        },
      },
    });
  });

  after(async () => {
    await gate.stop();
    if (dir) await removeDir(dir);
  });

  test('a user deleted with `registry-gate htpasswd delete` cannot refresh any more, within 2 s', async () => {
    const { refreshToken } = await offlineLogin(gate, 'dave', users.dave, PUSH_SCOPE, 'basic-get');
    const before = await refresh(gate, refreshToken);
    assert.equal(before.status, 200, 'the refresh token works while dave exists');
    assert.equal(before.scope, PUSH_SCOPE);

    const deleted = await runProcess(process.execPath, [CLI, 'htpasswd', 'delete', gate.htpasswdFile, 'dave'], { timeoutMs: 30_000 });
    assert.equal(deleted.code, 0, deleted.stderr);
    const after = await refreshUntil(gate, refreshToken, (reply) => reply.status !== 200, 2000);
    assert.equal(after.status, 401, `a deleted user's refresh token is refused within 2 s (got ${after.status} ${after.scope ?? ''})`);
    assert.equal(after.code, 'UNAUTHORIZED');
    assert.equal(after.refreshToken, undefined);
  });

  test('a user removed from a group in the group file loses its rights at the next refresh', async () => {
    const login = await offlineLogin(gate, 'alice', users.alice, PUSH_SCOPE, 'basic-get');
    assert.equal(login.scope, PUSH_SCOPE, 'alice pushes as a member of pushers');
    await writeFile(groupFile, 'pushers: someone-else\n');
    const after = await refreshUntil(gate, login.refreshToken, (reply) => reply.scope !== PUSH_SCOPE, 2000);
    assert.equal(after.status, 200, 'alice still exists: she still gets tokens');
    assert.equal(after.scope, 'repository:team/app:pull', 'but no longer with the rights of a group she left');
    await writeFile(groupFile, 'pushers: alice\n');
    const back = await refreshUntil(gate, login.refreshToken, (reply) => reply.scope === PUSH_SCOPE, 2000);
    assert.equal(back.scope, PUSH_SCOPE, 'groups are read afresh on every refresh, in both directions');
  });

  test("a robot revoked and re-created under the same name does not revive the old robot's refresh tokens", async () => {
    const old = await offlineLogin(gate, 'robot$ci', robotSecret, 'repository:ci/app:pull,push');
    assert.equal(old.scope, 'repository:ci/app:pull,push');
    assert.equal((await refresh(gate, old.refreshToken, 'repository:ci/app:pull,push')).status, 200);

    assert.ok(await revokeRobot(robots, 'ci'));
    const recreated = await createRobot(robots, { name: 'ci', scopes: ['repository:ci/*:pull,push'], expires: null });
    // Wait until the gateway has read the new store: the new robot's secret works.
    const fresh = await pollUntil(
      () =>
        postForm(gate, {
          grant_type: 'password',
          username: 'robot$ci',
          password: recreated.secret,
          access_type: 'offline',
          scope: 'repository:ci/app:pull,push',
        }),
      (reply) => reply.status === 200,
      { timeoutMs: 3000, intervalMs: 100 },
    );
    assert.equal(fresh.status, 200, 'the new robot logs in');
    assert.ok(fresh.refreshToken);

    const stale = await refresh(gate, old.refreshToken, 'repository:ci/app:pull,push');
    assert.equal(stale.status, 401, `the old robot's refresh token is refused (got ${stale.status} ${stale.scope ?? ''})`);
    assert.equal(stale.code, 'UNAUTHORIZED');
    const current = await refresh(gate, fresh.refreshToken, 'repository:ci/app:pull,push');
    assert.equal(current.status, 200, "the new robot's own refresh token works");
    assert.equal(current.scope, 'repository:ci/app:pull,push');
  });

  test("an SSO proxy's user gets tokens but no refresh token: nothing could re-check it later", async () => {
    const response = await request(
      `${gate.url}/auth/token?${new URLSearchParams({ service: SERVICE, scope: PUSH_SCOPE, offline_token: 'true' }).toString()}`,
      {
        dispatcher: gate.dispatcher,
        headers: { 'x-forwarded-user': 'alice' },
      },
    );
    const reply = await tokenReply(response);
    assert.equal(reply.status, 200);
    assert.equal(reply.scope, PUSH_SCOPE, 'the proxy says alice: she gets her tokens');
    assert.equal(reply.refreshToken, undefined);
  });
});

describe('refresh tokens of LDAP users', () => {
  let dir: string;
  let slapd: RunningSlapd;
  let gate: TestGate;

  before(async () => {
    dir = await makeTempDir('rg-stale-refresh-ldap-');
    slapd = await startSlapd();
    gate = await startGate({
      dir,
      config: {
        access: ACCESS,
        auth: {
          scheme: 'bearer',
          providers: ['ldap'],
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

  test('a user removed from an LDAP group loses its rights at the next refresh', async () => {
    const { alice, carol } = slapd.users;
    const login = await offlineLogin(gate, 'alice', alice.password);
    assert.equal(login.scope, PUSH_SCOPE, 'alice pushes as a member of the LDAP group pushers');
    // groupOfNames needs a member: carol joins as alice leaves.
    await slapd.modify(
      [
        `dn: cn=pushers,ou=groups,${slapd.suffix}`,
        'changetype: modify',
        'add: member',
        `member: ${carol.dn}`,
        '-',
        'delete: member',
        `member: ${alice.dn}`,
        '',
      ].join('\n'),
    );
    const after = await refresh(gate, login.refreshToken);
    assert.equal(after.status, 200, 'alice is still in the directory');
    assert.equal(after.scope, 'repository:team/app:pull', 'the groups come from the directory now, not from the refresh token');
  });

  test('a user deleted from the directory cannot refresh any more', async () => {
    const { bob } = slapd.users;
    const login = await offlineLogin(gate, 'bob', bob.password, 'repository:team/app:pull');
    assert.equal((await refresh(gate, login.refreshToken, 'repository:team/app:pull')).status, 200);
    await slapd.modify([`dn: ${bob.dn}`, 'changetype: delete', ''].join('\n'));
    const after = await refresh(gate, login.refreshToken, 'repository:team/app:pull');
    assert.equal(after.status, 401, `a deleted LDAP user's refresh token is refused (got ${after.status} ${after.scope ?? ''})`);
    assert.equal(after.code, 'UNAUTHORIZED');
  });

  test('while the directory is down a refresh gets 503, not a token from what the refresh token recorded (runs last)', async () => {
    const { xavier } = slapd.users;
    const login = await offlineLogin(gate, 'xavier', xavier.password, 'repository:team/app:pull');
    await slapd.stop();
    const down = await refresh(gate, login.refreshToken, 'repository:team/app:pull');
    assert.equal(down.status, 503);
    assert.equal(down.code, 'UNAVAILABLE');
  });
});
