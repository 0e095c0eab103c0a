/**
 * OpenID Connect sign-in against a real provider (oidc-provider over TLS with its own CA): the
 * login page's button, the code flow through the provider's login form, a session whose identity
 * is the provider's user and groups (the same rules, `${user}` and `group:`, the audit trail with
 * `via: "oidc"`), personal tokens of such a user, the re-check with the provider (at most once per
 * recheckInterval however many requests come at once, refresh tokens rotated on every use), what
 * the provider changes reaching tokens and sessions (groups, a disabled account ending everything
 * with an audit line that says why, a key rotation changing nothing), RP-initiated logout, and
 * password sign-in turned off.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startGate, basic, type TestGate } from '../helpers/gate.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { RegistryClient } from '../helpers/registry-client.js';
import { UiClient } from '../helpers/ui-client.js';
import { waitFor } from '../helpers/wait.js';
import { parseAuditLines, readAuditText, waitForAudit } from '../helpers/access-http.js';
import { makePersonalToken } from '../helpers/personal-tokens.js';
import { startTestOp, type TestOp } from '../helpers/oidc-provider.js';
import { signInThroughProvider } from '../helpers/oidc-sign-in.js';

const ACCOUNTS = {
  alice: { password: 'alice-idp-pw-1', groups: ['team-a'] },
  bob: { password: 'bob-idp-pw-2', groups: ['team-a', 'admins'] },
  carol: { password: 'carol-idp-pw-3', groups: ['team-a'] },
  dave: { password: 'dave-idp-pw-4', groups: ['team-a'] },
};
type Account = keyof typeof ACCOUNTS;
const RECHECK_MS = 2000;

describe('OpenID Connect sign-in', () => {
  let dir: string;
  let tls: TlsPair;
  let op: TestOp;
  let gate: TestGate;
  let auditFile: string;

  const signIn = async (user: Account, returnTo?: string) => {
    const ui = new UiClient(gate.url, gate.dispatcher);
    await signInThroughProvider(ui, op, { username: user, password: ACCOUNTS[user].password }, returnTo);
    return ui;
  };
  const v2 = async (user: string, secret: string, path: string) => {
    const reply = await new RegistryClient(() => ({
      baseUrl: gate.url,
      dispatcher: gate.dispatcher,
      authHeader: basic(user, secret),
    })).call('GET', path);
    return reply.status;
  };

  before(async () => {
    dir = await makeTempDir('rg-oidc-');
    tls = await makeTlsPair(join(dir, 'gate-tls'));
    op = await startTestOp(dir, ACCOUNTS);
    auditFile = join(dir, 'audit.log');
    gate = await startGate({
      dir,
      tls,
      users: { local: 'local-pw-9' },
      bcryptCost: 4,
      config: {
        auth: {
          oidc: {
            issuer: op.issuer,
            clientId: op.clientId,
            clientSecretFile: op.clientSecretFile,
            ca: op.tls.caFile,
            scopes: ['openid', 'profile', 'groups', 'offline_access'],
            name: 'Test IdP',
            recheckInterval: `${RECHECK_MS}ms`,
          },
        },
        audit: { enabled: true, file: auditFile },
        ui: { adminGroup: 'admins' },
        access: [
          { repository: 'team-a/**', actions: ['pull', 'push'], subjects: ['group:team-a'] },
          { repository: '${user}/**', actions: ['pull', 'push'], subjects: ['authenticated'] },
        ],
      },
    });
    op.registerClient(gate.url);
    await new RegistryClient(() => ({ baseUrl: gate.url, dispatcher: gate.dispatcher, authHeader: basic('local', 'local-pw-9') }))
      .call('GET', '/v2/')
      .catch(() => undefined);
  });
  after(async () => {
    await gate.stop();
    await op.stop();
    await removeDir(dir);
  });

  test('the login page offers the provider beside the password form', async () => {
    const page = await new UiClient(gate.url, gate.dispatcher).get('/ui/login?return=/ui/tokens');
    assert.equal(page.status, 200);
    assert.match(page.body, /<a class="button" href="\/ui\/oidc\/login\?return=%2Fui%2Ftokens">Sign in with Test IdP<\/a>/);
    assert.match(page.body, /<form method="post" action="\/ui\/login"/);
  });

  test('a sign-in makes a session for the provider’s user and groups, audited with via "oidc"', async () => {
    const ui = await signIn('alice', '/ui/tokens');
    const home = await ui.get('/ui/');
    assert.match(home.body, /Signed in as <strong>alice<\/strong>/);
    const lines = await waitForAudit(auditFile, (all) => all.some((line) => line.action === 'login' && line.user === 'alice'));
    const login = lines.find((line) => line.action === 'login' && line.user === 'alice');
    assert.ok(login);
    assert.equal(login.decision, 'allow');
    assert.equal(login.via, 'oidc');
    assert.deepEqual(login.groups, ['team-a']);
    const stored = await readFile(join(dir, 'data', 'oidc', 'accounts.json'), 'utf8');
    assert.match(stored, /"refresh": "[A-Za-z0-9_-]{40,}"/, 'a refresh token is kept');
    assert.ok(!stored.includes(ACCOUNTS.alice.password));
  });

  test('its personal tokens act as the provider’s user, by the rules for its groups and name', async () => {
    const ui = await signIn('carol');
    const token = await makePersonalToken(ui, { name: 'cli', repositories: ['team-a/**', 'carol/**'], actions: ['pull', 'push'] });
    const client = new RegistryClient(() => ({ baseUrl: gate.url, dispatcher: gate.dispatcher, authHeader: basic('carol', token) }));
    await client.pushImage('carol/app', 'latest');
    await client.pushImage('team-a/carols', 'latest');
    assert.equal(await v2('carol', token, '/v2/carol/app/manifests/latest'), 200);
    const lines = await waitForAudit(auditFile, (all) => all.some((line) => line.action === 'token-create' && line.user === 'carol'));
    assert.equal(lines.find((line) => line.action === 'token-create' && line.user === 'carol')?.via, 'oidc');
  });

  test('the provider is asked again at most once per interval, however many requests come at once', async () => {
    const ui = await signIn('dave');
    const token = await makePersonalToken(ui, { name: 'busy', repositories: ['team-a/**'], actions: ['pull'] });
    const before = op.refreshGrants;
    const burst = async () =>
      (await Promise.all(Array.from({ length: 12 }, () => v2('dave', token, '/v2/')))).every((status) => status === 200);
    assert.ok(await burst());
    assert.equal(op.refreshGrants, before, 'no re-check before the interval');
    const checkedBefore =
      (
        JSON.parse(await readFile(join(dir, 'data', 'oidc', 'accounts.json'), 'utf8')) as {
          accounts: Array<{ user: string; checked: string }>;
        }
      ).accounts.find((account) => account.user === 'dave')?.checked ?? '';
    await waitFor('the interval passes', () => Date.now() - Date.parse(checkedBefore) > RECHECK_MS, { timeoutMs: RECHECK_MS + 1000 });
    assert.ok(await burst(), 'every request of the burst succeeds (one re-check, the rotated refresh token kept)');
    assert.equal(op.refreshGrants, before + 1, 'exactly one refresh-token grant for the burst');
    await waitFor('the interval passes again', () => Date.now() - Date.parse(checkedBefore) > 2 * RECHECK_MS + 100, {
      timeoutMs: 2 * RECHECK_MS + 1000,
    });
    assert.ok(await burst(), 'the rotated refresh token works the next time');
    assert.equal(op.refreshGrants, before + 2);
  });

  test('groups the provider takes away narrow the tokens at the next re-check', async () => {
    const ui = await signIn('bob');
    const token = await makePersonalToken(ui, { name: 'team', repositories: ['team-a/**'], actions: ['pull'] });
    assert.equal(await v2('bob', token, '/v2/team-a/carols/manifests/latest'), 200);
    op.setGroups('bob', ['admins']);
    await waitFor('team-a refused', async () => (await v2('bob', token, '/v2/team-a/carols/manifests/latest')) === 403, {
      timeoutMs: RECHECK_MS + 3000,
    });
    op.setGroups('bob', ['team-a', 'admins']);
  });

  test('a key rotation at the provider changes nothing for sign-ins and re-checks', async () => {
    const ui = await signIn('bob');
    const token = await makePersonalToken(ui, { name: 'rotation', repositories: ['team-a/**'], actions: ['pull'] });
    const grantsBefore = op.refreshGrants;
    await op.rotateKeys();
    // The gateway fetches the provider's keys again for a key it has not seen, at most once a second.
    await waitFor(
      'a sign-in with the new key',
      async () => {
        try {
          await signIn('alice');
          return true;
        } catch {
          return false;
        }
      },
      { timeoutMs: 5000, intervalMs: 300 },
    );
    let seen = '';
    await waitFor(
      'a re-check with the new key',
      async () => {
        const status = await v2('bob', token, '/v2/team-a/carols/manifests/latest');
        seen = `status ${status}, ${op.refreshGrants - grantsBefore} re-checks`;
        return status === 200 && op.refreshGrants > grantsBefore;
      },
      { timeoutMs: RECHECK_MS + 3000, intervalMs: 200 },
    ).catch((error: unknown) => assert.fail(`${String(error)}; last seen: ${seen}`));
  });

  test('a user the provider disables loses every session and token within the interval, and the audit says why', async () => {
    const ui = await signIn('alice');
    const token = await makePersonalToken(ui, { name: 'until-disabled', repositories: ['team-a/**'], actions: ['pull'] });
    assert.equal(await v2('alice', token, '/v2/'), 200);
    op.disable('alice');
    await waitFor('the token refused', async () => (await v2('alice', token, '/v2/')) === 401, { timeoutMs: RECHECK_MS + 3000 });
    const home = await ui.get('/ui/');
    assert.doesNotMatch(home.body, /Signed in as/, 'the session is over');
    const lines = await waitForAudit(auditFile, (all) => all.some((line) => line.action === 'credentials-ended' && line.user === 'alice'));
    const ended = lines.find((line) => line.action === 'credentials-ended' && line.user === 'alice');
    assert.ok(ended);
    assert.equal(ended.reason, 'provider-refused');
    assert.match(String(ended.detail), /invalid_grant/);
    const accounts = await readFile(join(dir, 'data', 'oidc', 'accounts.json'), 'utf8');
    assert.match(accounts, /"user": "alice"[\s\S]*?"refresh": null/, 'the refresh token is dropped');
    await waitFor(
      'the user’s tokens deleted',
      async () => !(await readFile(join(dir, 'data', 'tokens', 'personal-tokens.json'), 'utf8')).includes('"owner": "alice"'),
    );
  });

  test('logout ends the session here and sends the browser to the provider’s logout', async () => {
    const ui = await signIn('carol');
    const out = await ui.post('/ui/logout', {});
    assert.equal(out.status, 200);
    const target = /<meta http-equiv="refresh" content="0;url=([^"]+)">/.exec(out.body)?.[1]?.replace(/&amp;/g, '&');
    assert.ok(target, 'the page moves on to the provider');
    const url = new URL(target);
    assert.equal(url.origin, op.issuer);
    assert.equal(url.searchParams.get('client_id'), op.clientId);
    assert.equal(url.searchParams.get('post_logout_redirect_uri'), `${gate.url}/ui/`);
    assert.doesNotMatch((await ui.get('/ui/')).body, /Signed in as/);
    assert.ok(parseAuditLines(await readAuditText(auditFile)).length > 0);
  });
});

describe('password sign-in turned off (auth.oidc.passwordLogin: false)', () => {
  let dir: string;
  let gate: TestGate;

  before(async () => {
    dir = await makeTempDir('rg-oidc-nopw-');
    gate = await startGate({
      dir,
      users: { local: 'local-pw-1' },
      bcryptCost: 4,
      config: {
        auth: { oidc: { issuer: 'https://127.0.0.1:1', clientId: 'registry-gate', name: 'Test IdP', passwordLogin: false } },
      },
    });
  });
  after(async () => {
    await gate.stop();
    await removeDir(dir);
  });

  test('the login page offers the provider only, and the form is refused; registry clients keep their passwords', async () => {
    const ui = new UiClient(gate.url);
    const page = await ui.get('/ui/login');
    assert.match(page.body, /Sign in with Test IdP/);
    assert.doesNotMatch(page.body, /name="password"/);
    // No page gives an anonymous visitor a form token any more, so a posted form is refused outright.
    const refused = await ui.post('/ui/login', { user: 'local', password: 'local-pw-1' }, { csrf: false });
    assert.equal(refused.status, 403);
    assert.doesNotMatch((await ui.get('/ui/')).body, /Signed in as/);
    assert.equal(
      await new RegistryClient(() => ({ baseUrl: gate.url, authHeader: basic('local', 'local-pw-1') }))
        .call('GET', '/v2/')
        .then((reply) => reply.status),
      200,
    );
  });
});
