/**
 * Failed logins must leave an audit record wherever they happen.
 *
 * The attack: guessing passwords at the token endpoint instead of at /v2/. A wrong password on
 * `GET /auth/token` (Basic), a wrong password in the OAuth2 password grant, a forged refresh token
 * or one whose user is gone, and the 429 TOOMANYREQUESTS that the login throttle answers once the guessing
 * passes its threshold (at /auth/token and at /v2/ alike) all went unrecorded: the audit trail
 * showed nothing of a brute-force run that only used the token endpoint, nor the lockout itself.
 * Each must be one `login` / `deny` line naming the user that was tried (or null), the client
 * address, the status and why — and never the password or token that was sent.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { request } from 'undici';
import { makeTempDir, removeDir, runProcess } from '../helpers/process.js';
import { startGate, basic, type TestGate } from '../helpers/gate.js';
import { CLI } from '../helpers/gate-process.js';
import { readAuditText, waitForAudit, type AuditLine } from '../helpers/access-http.js';
import { pollUntil } from '../helpers/wait.js';

const SERVICE = 'registry-gate.test';
const USERS = { alice: 'alice-Audit-secret-1', bob: 'bob-Audit-secret-2', carol: 'carol-Audit-secret-3' };
/** Everything secret this file sends, right or wrong, to check that no audit line repeats it. */
const sent = new Set<string>(Object.values(USERS));

describe('failed logins at /auth/token and throttled logins at /v2/ are audited', () => {
  let dir: string;
  let gate: TestGate;
  let auditFile: string;

  const loginLine = (matches: (line: AuditLine) => boolean) => async (): Promise<AuditLine> => {
    const lines = await waitForAudit(auditFile, (all) => all.some((line) => line.action === 'login' && matches(line)));
    const line = lines.find((candidate) => candidate.action === 'login' && matches(candidate));
    assert.ok(line, `a login line; the audit file has:\n${lines.map((l) => JSON.stringify(l)).join('\n')}`);
    return line;
  };

  function assertRefusal(
    line: AuditLine,
    expected: { user: string | null; status: number; reason: string; method: string; endpoint?: string },
  ): void {
    assert.equal(line.decision, 'deny');
    assert.equal(line.rule, -1);
    assert.equal(line.user, expected.user);
    assert.deepEqual(line.groups, []);
    assert.equal(line.client, '127.0.0.1');
    assert.equal(line.status, expected.status);
    assert.equal(line.reason, expected.reason);
    assert.equal(line.method, expected.method);
    if (expected.endpoint) assert.equal(line.endpoint, expected.endpoint);
  }

  async function tokenGet(user: string, password: string): Promise<number> {
    sent.add(password);
    const response = await request(`${gate.url}/auth/token?service=${SERVICE}&scope=repository:team/app:pull`, {
      dispatcher: gate.dispatcher,
      headers: { authorization: basic(user, password) },
    });
    await response.body.dump();
    return response.statusCode;
  }

  async function tokenPostReply(
    form: Record<string, string>,
  ): Promise<{ status: number; body: { token?: string; refresh_token?: string } }> {
    if (form.password) sent.add(form.password);
    if (form.refresh_token) sent.add(form.refresh_token);
    const response = await request(`${gate.url}/auth/token`, {
      method: 'POST',
      dispatcher: gate.dispatcher,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ service: SERVICE, client_id: 'audit-tests', ...form }).toString(),
    });
    const body = (await response.body.json()) as { token?: string; refresh_token?: string };
    if (body.token) sent.add(body.token);
    if (body.refresh_token) sent.add(body.refresh_token);
    return { status: response.statusCode, body };
  }

  async function tokenPost(form: Record<string, string>): Promise<number> {
    return (await tokenPostReply(form)).status;
  }

  before(async () => {
    dir = await makeTempDir('rg-login-audit-');
    auditFile = join(dir, 'audit.log');
    gate = await startGate({
      dir,
      users: USERS,
      bcryptCost: 4,
      config: {
        access: [{ repository: '**', actions: ['pull'], subjects: ['authenticated'] }],
        audit: { enabled: true, file: auditFile },
        auth: {
          scheme: 'bearer',
          token: { service: SERVICE, keyDir: join(dir, 'keys') },
          throttle: { maxFailuresPerAccount: 2, maxFailuresPerIp: 1000, baseDelay: '30s' },
        },
      },
    });
  });

  after(async () => {
    await gate.stop();
    if (dir) await removeDir(dir);
  });

  test('a wrong password on GET /auth/token (Basic) leaves a login deny line naming the user', async () => {
    assert.equal(await tokenGet('alice', 'not-alices-Passw0rd'), 401);
    const line = await loginLine((l) => l.user === 'alice')();
    assertRefusal(line, { user: 'alice', status: 401, reason: 'invalid-credentials', method: 'GET', endpoint: '/auth/token' });
  });

  test('a wrong password in the OAuth2 password grant leaves a login deny line naming the user', async () => {
    assert.equal(await tokenPost({ grant_type: 'password', username: 'bob', password: 'not-bobs-Passw0rd' }), 401);
    const line = await loginLine((l) => l.user === 'bob')();
    assertRefusal(line, { user: 'bob', status: 401, reason: 'invalid-credentials', method: 'POST', endpoint: '/auth/token' });
  });

  test('an unusable refresh token leaves a login deny line (no user: the token says nothing trustworthy)', async () => {
    // A refresh token's shape with a signature that does not verify.
    const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const forged = [
      part({ alg: 'ES256', typ: 'rg-refresh+jwt' }),
      part({ sub: 'alice', aud: `registry-gate-refresh:${SERVICE}` }),
      'c2lnbmF0dXJl',
    ].join('.');
    assert.equal(await tokenPost({ grant_type: 'refresh_token', refresh_token: forged }), 401);
    const line = await loginLine((l) => l.reason === 'invalid-refresh-token')();
    assertRefusal(line, { user: null, status: 401, reason: 'invalid-refresh-token', method: 'POST', endpoint: '/auth/token' });
  });

  test('a refresh token whose user was deleted leaves a login deny line naming that user', async () => {
    const login = await tokenPostReply({ grant_type: 'password', username: 'carol', password: USERS.carol, access_type: 'offline' });
    assert.equal(login.status, 200);
    const refreshToken = login.body.refresh_token;
    assert.ok(refreshToken);
    const deleted = await runProcess(process.execPath, [CLI, 'htpasswd', 'delete', gate.htpasswdFile, 'carol'], { timeoutMs: 30_000 });
    assert.equal(deleted.code, 0, deleted.stderr);
    // The file is watched: within 2 s the refresh is refused.
    const status = await pollUntil(
      () => tokenPost({ grant_type: 'refresh_token', refresh_token: refreshToken }),
      (answer) => answer !== 200,
      { timeoutMs: 2500, intervalMs: 100 },
    );
    assert.equal(status, 401);
    const line = await loginLine((l) => l.user === 'carol')();
    assertRefusal(line, { user: 'carol', status: 401, reason: 'refresh-subject-refused', method: 'POST', endpoint: '/auth/token' });
  });

  test('a 429 TOOMANYREQUESTS from the login throttle at /auth/token leaves a line', async () => {
    // An unknown name is throttled like a known one; two failures, then the third is refused unchecked.
    assert.equal(await tokenGet('mallory', 'guess-1'), 401);
    assert.equal(await tokenPost({ grant_type: 'password', username: 'mallory', password: 'guess-2' }), 401);
    assert.equal(await tokenGet('mallory', 'guess-3'), 429);
    assert.equal(await tokenPost({ grant_type: 'password', username: 'mallory', password: 'guess-4' }), 429);
    const lines = await waitForAudit(auditFile, (all) => all.filter((l) => l.user === 'mallory').length >= 4);
    const mallory = lines.filter((l) => l.user === 'mallory');
    assert.deepEqual(
      mallory.map((l) => [l.method, l.status, l.reason]),
      [
        ['GET', 401, 'invalid-credentials'],
        ['POST', 401, 'invalid-credentials'],
        ['GET', 429, 'throttled'],
        ['POST', 429, 'throttled'],
      ],
    );
    for (const line of mallory)
      assertRefusal(line, {
        user: 'mallory',
        status: line.status,
        reason: String(line.reason),
        method: line.method,
        endpoint: '/auth/token',
      });
  });

  test('a 429 TOOMANYREQUESTS from the login throttle at /v2/ leaves a line', async () => {
    const v2 = async (password: string): Promise<number> => {
      sent.add(password);
      const response = await request(`${gate.url}/v2/team/app/tags/list`, {
        dispatcher: gate.dispatcher,
        headers: { authorization: basic('trudy', password) },
      });
      await response.body.dump();
      return response.statusCode;
    };
    assert.equal(await v2('guess-a'), 401);
    assert.equal(await v2('guess-b'), 401);
    assert.equal(await v2('guess-c'), 429);
    const lines = await waitForAudit(auditFile, (all) => all.some((l) => l.user === 'trudy' && l.status === 429));
    const trudy = lines.filter((l) => l.user === 'trudy');
    assert.deepEqual(
      trudy.map((l) => [l.status, l.reason]),
      [
        [401, 'invalid-credentials'],
        [401, 'invalid-credentials'],
        [429, 'throttled'],
      ],
    );
    for (const line of trudy) {
      assertRefusal(line, { user: 'trudy', status: line.status, reason: String(line.reason), method: 'GET' });
      assert.equal(line.repository, 'team/app');
    }
  });

  test('no audit line holds a password or a token that was sent', async () => {
    const text = await readAuditText(auditFile);
    assert.ok(text.length > 0);
    for (const secret of sent) assert.ok(!text.includes(secret), 'a secret that was sent is in the audit file');
    assert.doesNotMatch(text, /authorization|Basic |Bearer /i);
  });
});
