/**
 * Regression: a later provider of the chain must never decide a name an earlier one owns.
 *
 * The attack: with `auth.providers: [htpasswd, ldap]`, htpasswd matches user names byte for byte
 * while the directory matches them as directories do (case- and width-insensitively, and here by
 * e-mail address too) and, with `userNameAttribute`, answers with its own spelling. carol exists in
 * htpasswd (a local account in the `admins` group, allowed to push to `carol/**`) and in the
 * directory (another password). Sending `CAROL`, `ｃａｒｏｌ` (full width) or `carol@example.test` with
 * carol's *directory* password went past htpasswd ("not my user"), was accepted by LDAP, and came
 * back as the identity `carol`: the htpasswd account's groups and rules, opened with a password
 * that account never had. A name the directory returns that equals an htpasswd name (here reached
 * by e-mail address) is the same hole.
 *
 * What must hold: every such spelling gets the generic 401 (and counts as a failed login), a push
 * with skopeo under it is refused, and nothing changes for the accounts themselves: carol with her
 * htpasswd password, and a directory-only user in any spelling of his name the directory accepts
 * (`BOB`, `ｂｏｂ`), who gets the directory's spelling `bob` as his name. His e-mail address, which
 * the filter also matches, names nobody (ldap-name-takeover.test.ts): a generic 401.
 *
 * Everything is real: slapd with StartTLS, the gateway over verified TLS, the built-in registry.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Agent, request, type Dispatcher } from 'undici';
import { startSlapd, type RunningSlapd } from '../helpers/slapd.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { makeOciImage, type OciImage } from '../helpers/oci-image.js';
import { skopeoCopy, dockerRef } from '../helpers/skopeo.js';
import { startGate, basic, type TestGate } from '../helpers/gate.js';

/** carol's htpasswd account (the directory has a carol with another password). */
const CAROL_LOCAL = { user: 'carol', password: 'carol-local-secret-7' };

const ACCESS = [
  { repository: '**', actions: ['pull'], subjects: ['authenticated'] },
  { repository: 'carol/**', actions: ['pull', 'push'], subjects: ['user:carol'] },
  { repository: 'bob/**', actions: ['pull', 'push'], subjects: ['user:bob'] },
  { repository: 'admin/**', actions: ['pull', 'push', 'delete'], subjects: ['group:admins'] },
];

/** Spellings the directory takes for carol and htpasswd does not. */
const CAROL_SPELLINGS = ['CAROL', 'Carol', 'ｃａｒｏｌ', 'ＣＡＲＯＬ', 'carol@example.test', 'CAROL@EXAMPLE.TEST'];

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

describe('no later provider decides a name an earlier one owns (spelling bypass)', () => {
  let dir: string;
  let tls: TlsPair;
  let slapd: RunningSlapd;
  let gate: TestGate;
  let image: OciImage;
  /** One client address per test, so that failures counted in one test block nothing in another. */
  const agents: Agent[] = [];

  function from(address: string): Agent {
    const agent = new Agent({ localAddress: address, connect: { ca: tls.caPem } });
    agents.push(agent);
    return agent;
  }

  async function call(agent: Dispatcher, path: string, authorization: string, method: Dispatcher.HttpMethod = 'GET'): Promise<Reply> {
    const response = await request(`${gate.url}${path}`, { method, dispatcher: agent, headers: { authorization } });
    return { status: response.statusCode, headers: response.headers, body: await response.body.text() };
  }

  function assertChallenge(reply: Reply, what: string): void {
    assert.equal(reply.status, 401, `${what}: ${reply.status} ${reply.body}`);
    assert.equal(reply.headers['www-authenticate'], 'Basic realm="Registry realm"', what);
    assert.equal((JSON.parse(reply.body) as { errors: Array<{ code: string }> }).errors[0]?.code, 'UNAUTHORIZED', what);
  }

  before(async () => {
    dir = await makeTempDir('rg-chain-spelling-');
    [tls, slapd] = await Promise.all([makeTlsPair(join(dir, 'tls')), startSlapd()]);
    gate = await startGate({
      dir: join(dir, 'gate'),
      tls,
      users: { [CAROL_LOCAL.user]: CAROL_LOCAL.password },
      config: {
        auth: {
          providers: ['htpasswd', 'ldap'],
          ldap: {
            url: slapd.url,
            bindDN: slapd.serviceDN,
            bindPasswordFile: slapd.servicePasswordFile,
            userBase: slapd.peopleBase,
            // Matches by uid or by e-mail address; only the uid names a user, as the directory spells it.
            userFilter: '(&(objectClass=inetOrgPerson)(|(uid={user})(mail={user})))',
            userNameAttribute: 'uid',
            tls: { ca: slapd.caFile },
            timeout: '2s',
          },
          throttle: { maxFailuresPerAccount: 5, maxFailuresPerIp: 1000 },
        },
        groups: { admins: ['carol'] },
        access: ACCESS,
      },
    });
    image = await makeOciImage(join(dir, 'image'), { layers: [1024] });
  });

  after(async () => {
    await Promise.all(agents.map((agent) => agent.close()));
    await gate.stop();
    await slapd.close();
    if (dir) await removeDir(dir);
  });

  test('the accounts themselves work: carol by htpasswd, bob by the directory in any spelling of his uid, named as it spells him', async () => {
    const agent = from('127.0.0.2');
    assert.equal((await call(agent, '/v2/', basic(CAROL_LOCAL.user, CAROL_LOCAL.password))).status, 200);
    const carolPush = await call(agent, '/v2/admin/app/blobs/uploads/', basic(CAROL_LOCAL.user, CAROL_LOCAL.password), 'POST');
    assert.equal(carolPush.status, 202, carolPush.body);
    for (const spelling of ['bob', 'BOB', 'ｂｏｂ']) {
      // Only `user:bob` may push to bob/**: a 202 proves the identity is the directory's `bob`.
      const push = await call(agent, '/v2/bob/app/blobs/uploads/', basic(spelling, slapd.users.bob.password), 'POST');
      assert.equal(push.status, 202, `${spelling}: ${push.body}`);
    }
    assertChallenge(await call(agent, '/v2/', basic('bob@example.test', slapd.users.bob.password)), 'bob by e-mail address');
  });

  test("carol's directory password under another spelling of carol is a generic 401, not the htpasswd account", async () => {
    const agent = from('127.0.0.3');
    for (const spelling of CAROL_SPELLINGS) {
      assertChallenge(await call(agent, '/v2/', basic(spelling, slapd.users.carol.password)), `${spelling} on /v2/`);
    }
  });

  test('no push into carol’s or the admins’ repositories under such a spelling (HTTP)', async () => {
    const agent = from('127.0.0.4');
    for (const spelling of CAROL_SPELLINGS.slice(0, 2)) {
      for (const repository of ['carol/app', 'admin/app']) {
        const reply = await call(agent, `/v2/${repository}/blobs/uploads/`, basic(spelling, slapd.users.carol.password), 'POST');
        assertChallenge(reply, `${spelling}: ${repository}`);
      }
    }
  });

  test('no push with skopeo under such a spelling; nothing lands in the repository', async () => {
    const pushed = await skopeoCopy({
      from: image.ref,
      to: dockerRef(gate.host, 'admin/app', 'v1'),
      dest: { creds: { user: 'ｃａｒｏｌ', password: slapd.users.carol.password }, certDir: tls.caDir },
    });
    assert.notEqual(pushed.code, 0, 'skopeo pushed as ｃａｒｏｌ with the directory password');
    assert.match(pushed.stderr, /401|unauthorized|authentication required/i);
    const tags = await call(from('127.0.0.5'), '/v2/admin/app/tags/list', basic(CAROL_LOCAL.user, CAROL_LOCAL.password));
    assert.equal(tags.status, 404, tags.body);
  });

  test('each refused spelling counts as a failed login for carol (past the threshold: 429)', async () => {
    const agent = from('127.0.0.6');
    for (const spelling of ['CAROL', 'Carol', 'cArol', 'caRol', 'carOl']) {
      assertChallenge(await call(agent, '/v2/', basic(spelling, slapd.users.carol.password)), spelling);
    }
    const next = await call(agent, '/v2/', basic('caroL', slapd.users.carol.password));
    assert.equal(next.status, 429, next.body);
  });
});
