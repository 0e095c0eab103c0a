/**
 * Regression: an LDAP login must not take a name that belongs to someone else.
 *
 * The attack: the user filter matches more than the attribute that names a user — the README's
 * own suggestion, logging people in by e-mail address: `(|(uid={user})(mail={user}))`. Directory
 * user xavier sets his `mail` to `carol` (many directories let users edit their own address; here
 * he also has `carol@example.test`, for a filter that takes the address's local part). With
 * `auth.providers: [ldap, htpasswd]`, xavier logged in as `carol` with his own password: the
 * directory found his entry by `mail`, the bind succeeded, and without `userNameAttribute` the
 * identity was the name as typed — `carol`, with every `user:carol` rule (push to `carol/**`) and a
 * token for it at /auth/token. With `userNameAttribute: uid` he stayed xavier, but the directory
 * still "knew" carol: carol's own htpasswd password was tried against xavier's entry, refused,
 * and the chain (the first provider that knows a name decides) locked the htpasswd user carol out.
 *
 * What must hold, for both filters: `carol` with xavier's password is the generic 401 at /v2/, on
 * a push, and at /auth/token; the htpasswd carol logs in, gets a push token, refreshes it (the
 * re-check asks the directory first, without a password) and pushes with skopeo; xavier under his
 * own uid (any spelling the directory accepts) is xavier, and only that.
 *
 * Everything is real: slapd with StartTLS, the gateway over verified TLS, the built-in registry.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { request } from 'undici';
import { startSlapd, type RunningSlapd } from '../helpers/slapd.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { makeOciImage, type OciImage } from '../helpers/oci-image.js';
import { skopeoCopy, dockerRef } from '../helpers/skopeo.js';
import { startGate, basic, type TestGate } from '../helpers/gate.js';

/** carol exists only in htpasswd; the directory's carol is deleted before the gates start. */
const CAROL = { user: 'carol', password: 'carol-htpasswd-secret-7' };
const SERVICE = 'registry-gate';

const ACCESS = [
  { repository: '**', actions: ['pull'], subjects: ['authenticated'] },
  { repository: 'carol/**', actions: ['pull', 'push'], subjects: ['user:carol'] },
  { repository: 'xavier/**', actions: ['pull', 'push'], subjects: ['user:xavier'] },
];

const FILTERS = [
  {
    what: 'no userNameAttribute, the filter also takes the local part of the e-mail address',
    ldap: { userFilter: '(&(objectClass=inetOrgPerson)(|(uid={user})(mail={user}@example.test)))' },
  },
  {
    what: 'userNameAttribute uid, the filter also takes the e-mail address',
    ldap: { userFilter: '(&(objectClass=inetOrgPerson)(|(uid={user})(mail={user})))', userNameAttribute: 'uid' },
  },
] as const;

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

describe('an LDAP login cannot take a name that belongs to someone else', () => {
  let dir: string;
  let tls: TlsPair;
  let slapd: RunningSlapd;
  let image: OciImage;

  before(async () => {
    dir = await makeTempDir('rg-ldap-takeover-');
    [tls, slapd] = await Promise.all([makeTlsPair(join(dir, 'tls')), startSlapd()]);
    // carol becomes an htpasswd-only name; xavier's e-mail addresses claim it.
    await slapd.modify(`dn: ${slapd.users.carol.dn}\nchangetype: delete\n`);
    await slapd.modify(`dn: ${slapd.users.xavier.dn}\nchangetype: modify\nreplace: mail\nmail: carol\nmail: carol@example.test\n`);
    image = await makeOciImage(join(dir, 'image'), { layers: [1024] });
  });

  after(async () => {
    await slapd.close();
    if (dir) await removeDir(dir);
  });

  for (const [index, { what, ldap }] of FILTERS.entries()) {
    describe(what, () => {
      let gate: TestGate;

      async function call(path: string, authorization: string, method: 'GET' | 'POST' = 'GET'): Promise<Reply> {
        const response = await request(`${gate.url}${path}`, { method, dispatcher: gate.dispatcher, headers: { authorization } });
        return { status: response.statusCode, headers: response.headers, body: await response.body.text() };
      }

      function assertChallenge(reply: Reply, what: string): void {
        assert.equal(reply.status, 401, `${what}: ${reply.status} ${reply.body}`);
        assert.equal(reply.headers['www-authenticate'], 'Basic realm="Registry realm"', what);
        assert.equal((JSON.parse(reply.body) as { errors: Array<{ code: string }> }).errors[0]?.code, 'UNAUTHORIZED', what);
      }

      const tokenPath = (repository: string) => `/auth/token?service=${SERVICE}&scope=repository:${repository}:pull,push`;

      async function refresh(refreshToken: string, scope: string): Promise<Reply> {
        const response = await request(`${gate.url}/auth/token`, {
          method: 'POST',
          dispatcher: gate.dispatcher,
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, service: SERVICE, scope }).toString(),
        });
        return { status: response.statusCode, headers: response.headers, body: await response.body.text() };
      }

      before(async () => {
        gate = await startGate({
          dir: join(dir, `gate-${index}`),
          tls,
          users: { [CAROL.user]: CAROL.password },
          config: {
            auth: {
              // The directory first: the order in which a directory that "knows" carol locks her out.
              providers: ['ldap', 'htpasswd'],
              ldap: {
                url: slapd.url,
                bindDN: slapd.serviceDN,
                bindPasswordFile: slapd.servicePasswordFile,
                userBase: slapd.peopleBase,
                tls: { ca: slapd.caFile },
                timeout: '2s',
                ...ldap,
              },
              // The token endpoint beside Basic at /v2/.
              token: { service: SERVICE, keyDir: join(dir, `keys-${index}`) },
              throttle: { enabled: false },
            },
            access: ACCESS,
          },
        });
      });

      after(async () => {
        await gate.stop();
      });

      test("carol with xavier's directory password: the generic 401 at /v2/, on a push into carol/**, and at /auth/token", async () => {
        const asCarol = basic('carol', slapd.users.xavier.password);
        assertChallenge(await call('/v2/', asCarol), '/v2/');
        assertChallenge(await call('/v2/carol/app/blobs/uploads/', asCarol, 'POST'), 'push into carol/app');
        const token = await call(tokenPath('carol/app'), asCarol);
        assert.equal(token.status, 401, `/auth/token: ${token.status} ${token.body}`);
        assert.doesNotMatch(token.body, /"token"/);
      });

      test('the htpasswd carol still logs in, gets a push token, refreshes it, and pushes with skopeo', async () => {
        const asCarol = basic(CAROL.user, CAROL.password);
        assert.equal((await call('/v2/', asCarol)).status, 200);
        const token = await call(`${tokenPath('carol/app')}&offline_token=true`, asCarol);
        assert.equal(token.status, 200, token.body);
        const granted = JSON.parse(token.body) as { scope: string; refresh_token: string };
        assert.equal(granted.scope, 'repository:carol/app:pull,push');
        const refreshed = await refresh(granted.refresh_token, 'repository:carol/app:pull,push');
        assert.equal(refreshed.status, 200, `the refresh: ${refreshed.body}`);
        assert.equal((JSON.parse(refreshed.body) as { scope: string }).scope, 'repository:carol/app:pull,push');
        const pushed = await skopeoCopy({
          from: image.ref,
          to: dockerRef(gate.host, `carol/app${index}`, 'v1'),
          dest: { creds: CAROL, certDir: tls.caDir },
        });
        assert.equal(pushed.code, 0, pushed.stderr);
        const tags = await call(`/v2/carol/app${index}/tags/list`, asCarol);
        assert.equal(tags.status, 200, tags.body);
        assert.deepEqual((JSON.parse(tags.body) as { tags: string[] }).tags, ['v1']);
      });

      test('xavier under his own uid, in any spelling the directory takes, is xavier: his repositories, not carol’s', async () => {
        for (const spelling of ['xavier', 'XAVIER', 'ｘａｖｉｅｒ']) {
          const asXavier = basic(spelling, slapd.users.xavier.password);
          // Only `user:xavier` may push to xavier/**: a 202 proves the identity is the directory's `xavier`.
          const own = await call('/v2/xavier/app/blobs/uploads/', asXavier, 'POST');
          assert.equal(own.status, 202, `${spelling}: ${own.body}`);
          const carols = await call('/v2/carol/app/blobs/uploads/', asXavier, 'POST');
          assert.equal(carols.status, 403, `${spelling}: ${carols.body}`);
          const token = await call(tokenPath('xavier/app'), asXavier);
          assert.equal(token.status, 200, token.body);
          assert.equal((JSON.parse(token.body) as { scope: string }).scope, 'repository:xavier/app:pull,push');
        }
      });
    });
  }
});
