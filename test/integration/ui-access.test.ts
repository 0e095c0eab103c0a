/**
 * The web UI's security, asserted on exact answers (the browser tests drive the same pages):
 *
 * - It reveals no repository or tag the caller cannot pull. The attack: read another team's names
 *   through the UI instead of /v2/ — by listing, by searching, by asking for a page directly (a
 *   forbidden repository must look exactly like a missing one), or by the hostile spellings /v2/
 *   already refuses (encoded slashes and dots, dot and empty segments, upper case, backslashes,
 *   NUL), which must never name a repository other than the one decided on.
 * - Forms need a CSRF token made for this browser and session. The attack: another site (or a page
 *   of another user) posts a delete with the victim's cookies.
 * - Sessions: a signed HttpOnly, Secure, SameSite=Strict cookie with an expiry; logout revokes it (a
 *   replayed cookie is worth nothing), and a user deleted from the htpasswd file is logged out.
 * - The login form is throttled and audited like a registry login; robots log in with their
 *   secret and their scopes limit what they see; only ui.adminGroup manages robots.
 * - Trusted SSO headers log the user in only from a trusted proxy; LDAP users log in through the form.
 * - `ui: { enabled: false }` turns it off.
 *
 * The first group runs on both backends (the built-in registry, Distribution 2.8 behind the gateway).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Agent } from 'undici';
import { AccessPolicy } from '../../src/access/policy.js';
import type { AccessRuleConfig } from '../../src/config/schema.js';
import { startGate, basic, type TestGate } from '../helpers/gate.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { makeTempDir, removeDir, runProcess } from '../helpers/process.js';
import { RegistryClient } from '../helpers/registry-client.js';
import { BACKEND_KINDS, rawExchange, startBackend, waitForAudit, type BackendUnderTest } from '../helpers/access-http.js';
import { UiClient, listedRepositories } from '../helpers/ui-client.js';
import { startSlapd, type RunningSlapd } from '../helpers/slapd.js';
import { pollUntil } from '../helpers/wait.js';

const PASSWORDS = { alice: 'alice-pw-1', bob: 'bob-pw-2', carol: 'carol-pw-3', admin: 'admin-pw-4', dave: 'dave-pw-5' } as const;
type User = keyof typeof PASSWORDS;
const GROUPS = { 'team-a': ['alice'], 'team-b': ['bob'], admins: ['admin'] };
const RULES: AccessRuleConfig[] = [
  { repository: 'team-a/**', actions: ['pull', 'push', 'delete'], subjects: ['group:team-a'] },
  { repository: 'team-b/**', actions: ['pull', 'push', 'delete'], subjects: ['group:team-b'] },
  { repository: 'public/**', actions: ['pull'], subjects: ['*'] },
  { repository: 'release/**', actions: ['pull', 'push', 'delete'], subjects: ['group:team-a'], protectedTags: ['v*'] },
  { repository: 'shared/**', actions: ['pull'], subjects: ['authenticated'] },
];
const policy = new AccessPolicy(RULES);

function groupsOf(user: string): string[] {
  return Object.entries(GROUPS)
    .filter(([, members]) => members.includes(user))
    .map(([group]) => group);
}

/** Names of team-b's content that must never reach alice. */
const HIDDEN = ['team-b', 'secret'];

/** Request targets that try to reach team-b/secret (or /v2/) through a path alice may use. */
const HOSTILE_UI_PATHS = [
  '/ui/r/team-b%2Fsecret',
  '/ui/r/team-a%2F..%2Fteam-b%2Fsecret',
  '/ui/r/team-a/%2e%2e/team-b/secret',
  '/ui/r/team-a/%252e%252e/team-b/secret',
  '/ui/r/team-a/../team-b/secret',
  '/ui/r/team-a/app/../../team-b/secret',
  '/ui/r/team-a/./../team-b/secret',
  '/ui/r//team-b/secret',
  '/ui/r/team-a//team-b/secret',
  '/ui/r/TEAM-B/secret',
  '/ui/r/Team-B/Secret',
  '/ui/r/team-b/secret/',
  '/ui/r/team-a\\..\\team-b/secret',
  '/ui/r/team-b/secret%00',
  '/ui/r/team-a/app%00/../../team-b/secret',
  '/ui/r/team-a/app/-/manifest/../../../team-b/secret',
  '/ui/r/team-a/app/-/../../team-b/secret',
  '/ui/r/team-a/app/-/manifest/1/../../../../team-b/secret/-/manifest/1',
  '/ui/r/team-b/secret/-/manifest/1',
  '/ui/r/team-b/secret/-/manifest/%31',
  '/ui/r/team-b/secret?after=0',
  '/ui/../ui/r/team-b/secret',
  '/ui/./r/team-b/secret',
];

function signedInAs(body: string): string | undefined {
  return /Signed in as <strong>([^<]+)<\/strong>/.exec(body)?.[1];
}

for (const kind of BACKEND_KINDS) {
  describe(`the web UI shows only what the caller may pull (${kind})`, () => {
    let dir: string;
    let tls: TlsPair;
    let backend: BackendUnderTest;
    let gate: TestGate;
    let auditFile: string;
    const ui = (headers: Record<string, string> = {}) => new UiClient(gate.url, gate.dispatcher, headers);
    const registry = (user: User) =>
      new RegistryClient(() => ({ baseUrl: gate.url, dispatcher: gate.dispatcher, authHeader: basic(user, PASSWORDS[user]) }));
    const sessions = new Map<User, UiClient>();
    async function as(user: User): Promise<UiClient> {
      const existing = sessions.get(user);
      if (existing) return existing;
      const client = ui();
      const reply = await client.logIn(user, PASSWORDS[user]);
      assert.equal(reply.status, 303, `${user} logs in: ${reply.body}`);
      sessions.set(user, client);
      return client;
    }

    before(async () => {
      dir = await makeTempDir('rg-ui-access-');
      tls = await makeTlsPair(join(dir, 'tls'));
      backend = await startBackend(kind, join(dir, 'distribution'));
      auditFile = join(dir, 'audit.log');
      gate = await startGate({
        dir: join(dir, 'gate'),
        tls,
        users: PASSWORDS,
        bcryptCost: 4,
        config: {
          groups: GROUPS,
          access: RULES,
          ui: { adminGroup: 'admins' },
          audit: { enabled: true, file: auditFile },
          ...backend.gateConfig,
        },
      });
      await registry('alice').pushImage('team-a/app', '1');
      await registry('alice').pushImage('team-a/app', '2');
      await registry('alice').pushImage('release/app', 'v1');
      await registry('bob').pushImage('team-b/secret', '1');
      await registry('bob').pushImage('team-b/secret-plans', 'x');
      // Content nobody may push through the rules: straight to the backend's storage through an open rule set.
      const open = await startGate({
        dir: join(dir, 'seed'),
        users: { seed: 'seed-pw' },
        bcryptCost: 4,
        config: { ...backend.gateConfig, storage: { root: join(dir, 'gate', 'data', 'registry') } },
      });
      const seed = new RegistryClient(() => ({ baseUrl: open.url, authHeader: basic('seed', 'seed-pw') }));
      await seed.pushImage('public/base', 'latest');
      await seed.pushImage('shared/tools', '1');
      await open.stop();
    });

    after(async () => {
      await gate.stop();
      await backend.stop();
      if (dir) await removeDir(dir);
    });

    test('two users see different repository lists, each exactly what the catalog grants', async () => {
      const all = ['public/base', 'release/app', 'shared/tools', 'team-a/app', 'team-b/secret', 'team-b/secret-plans'];
      for (const user of ['alice', 'bob'] as const) {
        const page = await (await as(user)).get('/ui/');
        assert.equal(page.status, 200);
        assert.equal(signedInAs(page.body), user);
        const identity = { user, groups: groupsOf(user), via: 'htpasswd' as const };
        assert.deepEqual(
          listedRepositories(page.body),
          all.filter((name) => policy.decide(identity, name, 'pull').allowed),
          `${user}'s list`,
        );
      }
      const anonymous = await ui().get('/ui/');
      assert.deepEqual(listedRepositories(anonymous.body), ['public/base'], 'anonymous visitors see what anonymous callers may pull');
      assert.equal(signedInAs(anonymous.body), undefined);
    });

    test('search and paging never reveal a name the caller cannot pull', async () => {
      const alice = await as('alice');
      for (const q of ['team-b', 'secret', 'plans', 'b/s', '']) {
        const page = await alice.get(`/ui/?q=${encodeURIComponent(q)}`);
        assert.equal(page.status, 200);
        for (const name of listedRepositories(page.body)) assert.ok(!name.startsWith('team-b/'), `q=${q} listed ${name}`);
        const withoutForm = page.body.replace(/value="[^"]*"/g, '');
        if (q !== '') assert.ok(!withoutForm.includes('team-b/'), `q=${q}: no team-b name anywhere on the page`);
      }
      const after = await alice.get('/ui/?after=team-b/secret');
      assert.ok(!listedRepositories(after.body).some((name) => name.startsWith('team-b/')));
    });

    test('a repository the caller may not pull looks exactly like one that does not exist', async () => {
      const alice = await as('alice');
      const missing = await alice.get('/ui/r/team-b/nothing-here');
      const forbidden = await alice.get('/ui/r/team-b/secret');
      assert.equal(forbidden.status, 404);
      assert.equal(forbidden.body, missing.body);
      const missingManifest = await alice.get('/ui/r/team-b/nothing-here/-/manifest/1');
      const forbiddenManifest = await alice.get('/ui/r/team-b/secret/-/manifest/1');
      assert.equal(forbiddenManifest.status, 404);
      assert.equal(forbiddenManifest.body, missingManifest.body);
      for (const hidden of HIDDEN)
        assert.ok(!forbidden.body.includes(hidden) && !forbiddenManifest.body.includes(hidden), `${hidden} appears in a 404 page`);
      assert.equal((await ui().get('/ui/r/team-b/secret')).status, 404, 'anonymous too');
      const own = await alice.get('/ui/r/team-a/app');
      assert.equal(own.status, 200);
      assert.match(own.body, /href="\/ui\/r\/team-a\/app\/-\/manifest\/1"/);
    });

    test('hostile spellings of a UI path never reach another team’s content', async () => {
      const alice = await as('alice');
      const cookie = [...alice.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
      for (const target of HOSTILE_UI_PATHS) {
        const reply = await rawExchange(gate.url, `GET ${target} HTTP/1.1\r\nHost: ${gate.host}\r\nCookie: ${cookie}`, { ca: tls.caPem });
        assert.ok(reply.status === 404 || reply.status === 400, `${target}: ${reply.status}`);
        for (const hidden of HIDDEN) assert.ok(!reply.body.includes(hidden), `${target}: the answer names ${hidden}`);
        assert.ok(!/<h1>team-b/.test(reply.body) && !reply.body.includes('Tags of'), `${target}: no repository page`);
      }
      // Control: the same session reads team-b nothing, and its own repository by the plain path.
      const control = await rawExchange(gate.url, `GET /ui/r/team-a/app HTTP/1.1\r\nHost: ${gate.host}\r\nCookie: ${cookie}`, {
        ca: tls.caPem,
      });
      assert.equal(control.status, 200);
    });

    test('the session cookie is HttpOnly, Secure, SameSite=Strict, expires, and holds no secret', async () => {
      const client = ui();
      const reply = await client.logIn('carol', PASSWORDS.carol);
      assert.equal(reply.status, 303);
      assert.equal(reply.headers.location, '/ui/');
      const session = reply.setCookies.find((line) => line.startsWith('__Host-rg_session='));
      assert.ok(session, reply.setCookies.join('\n'));
      for (const attribute of ['HttpOnly', 'Secure', 'SameSite=Strict', 'Path=/'])
        assert.ok(session.split('; ').includes(attribute), `${attribute} in ${session}`);
      assert.match(session, /; Max-Age=43200; Expires=/);
      const value = session.slice(session.indexOf('=') + 1, session.indexOf(';'));
      const payload = Buffer.from(value.split('.')[0] ?? '', 'base64url').toString('utf8');
      assert.ok(!payload.includes(PASSWORDS.carol) && !value.includes(PASSWORDS.carol));
      const page = await client.get('/ui/');
      assert.equal(
        page.headers['content-security-policy'],
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
      );
      assert.equal(page.headers['cache-control'], 'no-store');
      assert.equal(page.headers['x-frame-options'], 'DENY');
      assert.ok(!/<script(?![^>]*\bsrc=)/.test(page.body), 'no inline script');
      assert.ok(!/\sstyle=/.test(page.body) && !page.body.includes('<style'), 'no inline style');
    });

    test('a form without the CSRF token of this browser and session is refused, and audited', async () => {
      const alice = await as('alice');
      const bob = await as('bob');
      const tagExists = async () => (await registry('alice').call('HEAD', '/v2/team-a/app/manifests/2')).status === 200;
      const noToken = await alice.post('/ui/r/team-a/app/-/delete', { reference: '2' }, { csrf: false });
      assert.equal(noToken.status, 403);
      const bobsToken = await bob.csrfToken('/ui/');
      const foreign = await alice.post('/ui/r/team-a/app/-/delete', { reference: '2', csrf: bobsToken }, { csrf: false });
      assert.equal(foreign.status, 403, 'a token made for another session');
      const crossSite = await alice.post(
        '/ui/r/team-a/app/-/delete',
        { reference: '2' },
        { tokenFrom: '/ui/r/team-a/app', headers: { 'sec-fetch-site': 'cross-site' } },
      );
      assert.equal(crossSite.status, 403, 'a cross-site form, even with a token');
      const stolenCookiesOnly = await new UiClient(gate.url, gate.dispatcher).call('POST', '/ui/r/team-a/app/-/delete', {
        body: 'reference=2',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          cookie: [...alice.cookies].map(([n, v]) => `${n}=${v}`).join('; '),
        },
      });
      assert.equal(stolenCookiesOnly.status, 403);
      assert.ok(await tagExists(), 'nothing was deleted');
      const lines = await waitForAudit(auditFile, (all) => all.filter((line) => line.reason === 'csrf').length >= 4);
      const refusals = lines.filter((line) => line.reason === 'csrf' && line.source === 'ui');
      assert.ok(
        refusals.length >= 4 &&
          refusals.every((line) => line.decision === 'deny' && line.action === 'delete' && line.repository === 'team-a/app'),
        JSON.stringify(refusals),
      );
    });

    test('logout revokes the session: the old cookie, replayed, is anonymous', async () => {
      const client = ui();
      await client.logIn('carol', PASSWORDS.carol);
      const cookies = new Map(client.cookies);
      assert.equal(signedInAs((await client.get('/ui/')).body), 'carol');
      const out = await client.post('/ui/logout', {});
      assert.equal(out.status, 303);
      assert.ok(out.setCookies.some((line) => line.startsWith('__Host-rg_session=;') && line.includes('Max-Age=0')));
      const replay = new UiClient(gate.url, gate.dispatcher);
      for (const [name, value] of cookies) replay.cookies.set(name, value);
      const page = await replay.get('/ui/');
      assert.equal(signedInAs(page.body), undefined, 'the replayed cookie is worth nothing');
      assert.deepEqual(listedRepositories(page.body), ['public/base']);
    });

    if (kind === 'builtin') {
      test('a user deleted from the htpasswd file is logged out', async () => {
        const client = ui();
        await client.logIn('dave', PASSWORDS.dave);
        assert.equal(signedInAs((await client.get('/ui/')).body), 'dave');
        // Only dave's line: re-hashing everyone's password would end every session (their credentials changed).
        const htpasswd = async (...args: string[]) => assert.equal((await runProcess('htpasswd', args, { timeoutMs: 30_000 })).code, 0);
        await htpasswd('-D', gate.htpasswdFile, 'dave');
        const who = await pollUntil(
          async () => signedInAs((await client.get('/ui/')).body),
          (user) => user === undefined,
          { timeoutMs: 6000, intervalMs: 100 },
        );
        assert.equal(who, undefined, 'dave is anonymous within 6 seconds');
        assert.ok(!client.cookies.has('__Host-rg_session'), 'and the cookie was cleared');
        await htpasswd('-b', '-B', '-C', '4', gate.htpasswdFile, 'dave', PASSWORDS.dave);
      });

      test('the login form is throttled and every refusal audited, like a registry login', async (t) => {
        const agent = new Agent({ localAddress: '127.0.0.2', connect: { ca: tls.caPem } });
        t.after(() => agent.close());
        const attacker = new UiClient(gate.url, agent);
        const statuses: number[] = [];
        for (let attempt = 0; attempt < 6; attempt++) statuses.push((await attacker.logIn('bob', `wrong-${attempt}`)).status);
        assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429]);
        const lines = await waitForAudit(auditFile, (all) =>
          all.some((line) => line.reason === 'throttled' && line.endpoint === '/ui/login'),
        );
        const refused = lines.filter((line) => line.action === 'login' && line.endpoint === '/ui/login' && line.user === 'bob');
        assert.equal(refused.filter((line) => line.reason === 'invalid-credentials' && line.status === 401).length, 5);
        assert.equal(refused.filter((line) => line.reason === 'throttled' && line.status === 429).length, 1);
        assert.ok(refused.every((line) => line.source === 'ui' && line.client === '127.0.0.2' && line.decision === 'deny'));
        assert.ok(!JSON.stringify(lines).includes('wrong-'), 'no password in the audit trail');
        // bob, from his own address, is not held back by the attacker's failures.
        assert.equal((await ui().logIn('bob', PASSWORDS.bob)).status, 303);
      });

      test('repositories and tags are paged on the server, 50 a page, in order, without repeats', async () => {
        const pusher = registry('alice');
        const names = Array.from({ length: 55 }, (_, index) => `team-a/p-${String(index).padStart(2, '0')}`);
        for (const name of names) await pusher.pushImage(name, '1');
        const image = await pusher.pushImage('team-a/many', 't-00');
        const tags = Array.from({ length: 55 }, (_, index) => `t-${String(index).padStart(2, '0')}`);
        for (const tag of tags.slice(1)) await pusher.pushManifest('team-a/many', tag, image.manifest, image.mediaType);

        const alice = await as('alice');
        const first = await alice.get('/ui/?q=team-a/p-');
        assert.deepEqual(listedRepositories(first.body), names.slice(0, 50));
        const next = /<a href="([^"]+)" rel="next">/.exec(first.body)?.[1]?.replace(/&amp;/g, '&');
        assert.equal(next, '/ui/?q=team-a%2Fp-&after=team-a%2Fp-49');
        const second = await alice.get(next);
        assert.deepEqual(listedRepositories(second.body), names.slice(50));
        assert.ok(!second.body.includes('rel="next"'), 'the last page');

        const tagsOf = (body: string) => [...body.matchAll(/<th scope="row"><a href="[^"]+">([^<]+)<\/a><\/th>/g)].map((match) => match[1]);
        const firstTags = await alice.get('/ui/r/team-a/many');
        assert.deepEqual(tagsOf(firstTags.body), tags.slice(0, 50));
        const moreTags = await alice.get('/ui/r/team-a/many?after=t-49');
        assert.deepEqual(tagsOf(moreTags.body), tags.slice(50));
      });

      test('robots: only admins manage them; a robot logs in with its secret and sees only its scopes', async () => {
        const alice = await as('alice');
        assert.equal((await alice.get('/ui/robots')).status, 404, 'not an admin: no such page');
        const refused = await alice.post('/ui/robots', { name: 'sneaky', scopes: 'repository:**:pull', expires: '7' });
        assert.equal(refused.status, 404);
        const admin = await as('admin');
        const created = await admin.post(
          '/ui/robots',
          { name: 'reader', scopes: 'repository:shared/*:pull', expires: '7' },
          { tokenFrom: '/ui/robots' },
        );
        assert.equal(created.status, 201, created.body);
        assert.equal(created.headers['cache-control'], 'no-store');
        const secret = /<code id="robot-secret">([^<]+)<\/code>/.exec(created.body)?.[1];
        assert.ok(secret && secret.startsWith('rgr_'), 'the secret is on the page');
        assert.ok(!(await admin.get('/ui/robots')).body.includes(secret), 'the secret is shown once');
        const robot = ui();
        assert.equal((await robot.logIn('robot$reader', secret)).status, 303);
        const page = await robot.get('/ui/');
        assert.equal(signedInAs(page.body), 'robot$reader');
        assert.deepEqual(listedRepositories(page.body), ['shared/tools'], 'its scope, though the rules would show it public/base too');
        assert.equal((await robot.get('/ui/r/public/base')).status, 404);
        const lines = await waitForAudit(auditFile, (all) => all.some((line) => line.action === 'robot-create'));
        assert.ok(
          lines.some(
            (line) =>
              line.action === 'robot-create' &&
              line.user === 'admin' &&
              line.robot === 'robot$reader' &&
              line.source === 'ui' &&
              line.decision === 'allow',
          ),
        );
        assert.ok(
          lines.some((line) => line.user === 'alice' && line.decision === 'deny' && line.reason === 'not-admin' && line.source === 'ui'),
        );
        assert.ok(!JSON.stringify(lines).includes(secret), 'no secret in the audit trail');
        const revoked = await admin.post('/ui/robots/revoke', { name: 'robot$reader' }, { tokenFrom: '/ui/robots' });
        assert.equal(revoked.status, 303);
        assert.equal(signedInAs((await robot.get('/ui/')).body), undefined, 'a revoked robot’s session ends at once');
      });
    }
  });
}

describe('the web UI behind a trusted SSO proxy, with LDAP, and turned off', () => {
  let dir: string;
  let slapd: RunningSlapd;
  let gate: TestGate;
  let off: TestGate;

  before(async () => {
    dir = await makeTempDir('rg-ui-sso-');
    slapd = await startSlapd();
    gate = await startGate({
      dir: join(dir, 'gate'),
      users: { hank: 'hank-pw-1' },
      bcryptCost: 4,
      config: {
        trustedProxies: ['127.0.0.1/32'],
        auth: {
          trustedHeader: { user: 'X-Forwarded-User', groups: 'X-Forwarded-Groups' },
          providers: ['htpasswd', 'ldap'],
          ldap: {
            url: slapd.url,
            bindDN: slapd.serviceDN,
            bindPasswordFile: slapd.servicePasswordFile,
            userBase: slapd.peopleBase,
            tls: { ca: slapd.caFile },
          },
        },
        access: [
          { repository: 'ops/**', actions: ['pull'], subjects: ['group:ops'] },
          { repository: 'users/${user}/**', actions: ['pull'], subjects: ['authenticated'] },
        ],
      },
    });
    const open = await startGate({
      dir: join(dir, 'seed'),
      users: { seed: 'seed-pw' },
      bcryptCost: 4,
      config: { storage: { root: join(dir, 'gate', 'data', 'registry') } },
    });
    const seed = new RegistryClient(() => ({ baseUrl: open.url, authHeader: basic('seed', 'seed-pw') }));
    await seed.pushImage('ops/tool', '1');
    await seed.pushImage('users/alice/app', '1');
    await open.stop();
    off = await startGate({ dir: join(dir, 'off'), config: { ui: { enabled: false } } });
  });

  after(async () => {
    await gate.stop();
    await off.stop();
    await slapd.close();
    if (dir) await removeDir(dir);
  });

  test('the SSO proxy’s headers log the user in from a trusted peer only', async (t) => {
    const viaProxy = new UiClient(gate.url, undefined, {
      'x-forwarded-user': 'olga',
      'x-forwarded-groups': 'ops',
      'x-forwarded-proto': 'https',
    });
    const page = await viaProxy.get('/ui/');
    assert.equal(signedInAs(page.body), 'olga');
    assert.deepEqual(listedRepositories(page.body), ['ops/tool']);
    assert.ok(!page.body.includes('action="/ui/logout"'), 'logging out is the SSO portal’s business');
    assert.ok(
      page.setCookies.some((line) => line.startsWith('__Host-rg_csrf=') && line.includes('; Secure')),
      'https as the trusted proxy says: Secure cookies',
    );

    const agent = new Agent({ localAddress: '127.0.0.2' });
    t.after(() => agent.close());
    const direct = new UiClient(gate.url, agent, { 'x-forwarded-user': 'olga', 'x-forwarded-groups': 'ops', 'x-forwarded-proto': 'https' });
    const spoofed = await direct.get('/ui/');
    assert.equal(signedInAs(spoofed.body), undefined, 'from an untrusted peer the headers are ignored');
    assert.deepEqual(listedRepositories(spoofed.body), []);
    assert.ok(
      spoofed.setCookies.every((line) => !line.includes('Secure') && line.startsWith('rg_')),
      'plain http: no Secure, no __Host- prefix',
    );
  });

  test('an LDAP user logs in through the form; a wrong password is one generic refusal', async () => {
    const client = new UiClient(gate.url);
    const wrong = await client.logIn('alice', 'not-her-password');
    assert.equal(wrong.status, 401);
    assert.match(wrong.body, /Wrong user name or password/);
    const right = await client.logIn('alice', slapd.users.alice.password);
    assert.equal(right.status, 303, right.body);
    const page = await client.get('/ui/');
    assert.equal(signedInAs(page.body), 'alice');
    assert.deepEqual(listedRepositories(page.body), ['users/alice/app']);
  });

  test('ui: { enabled: false } serves no UI and no redirect', async () => {
    for (const path of ['/', '/ui/', '/ui/login']) {
      const reply = await new UiClient(off.url).get(path);
      assert.equal(reply.status, 404, path);
      assert.match(reply.body, /"code":"NOT_FOUND"/);
    }
    const on = await new UiClient(gate.url).get('/');
    assert.equal(on.status, 302);
    assert.equal(on.headers.location, '/ui/');
  });
});
