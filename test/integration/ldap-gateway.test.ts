/**
 * The whole gateway with `auth.providers: [htpasswd, ldap]` against a real OpenLDAP (StartTLS,
 * verified against the test CA), in front of the built-in registry, driven by skopeo over the
 * gateway's verified TLS. Push is granted to the LDAP group `pushers`, pull to everyone
 * authenticated.
 *
 * Attacks and failures covered:
 * - LDAP filter injection in the Basic user name (`*`, `alice)(uid=*`, `*)(|(uid=*`), each sent with a
 *   real user's right password, so an injectable filter would let it in: always 401;
 * - a wrong LDAP password and an unknown user: the same generic 401 challenge;
 * - a user defined in both htpasswd and the directory: the first provider of the chain decides, and
 *   the directory password does not open the htpasswd account;
 * - the directory down: 503 UNAVAILABLE with Retry-After, never a 401 that would tell the client its
 *   password is wrong, and never counted as a failed login — after a burst of such requests (more
 *   than the per-account and per-address thresholds) the user logs in at once when it is back.
 *
 * A cached LDAP login and a cold one (`auth.cacheTtl: 0`: every request searches and binds) both
 * work; how many of each a second the gateway serves is measured by `npm run bench -- --only ldap`.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { request, type Dispatcher } from 'undici';
import { startSlapd, type RunningSlapd } from '../helpers/slapd.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { makeOciImage, readOciLayoutDigests, type OciImage } from '../helpers/oci-image.js';
import { skopeoCopy, dockerRef } from '../helpers/skopeo.js';
import { startGate, basic, type TestGate } from '../helpers/gate.js';
import { within } from '../helpers/wait.js';

/** An htpasswd-only user. */
const HANK = { user: 'hank', password: 'hank-local-secret-1' };
/** carol is in the directory too; this is her htpasswd password, which the chain asks first. */
const CAROL_LOCAL = { user: 'carol', password: 'carol-local-secret-2' };

const ACCESS = [
  { repository: '**', actions: ['pull'], subjects: ['authenticated'] },
  { repository: '**', actions: ['pull', 'push', 'delete'], subjects: ['group:pushers'] },
];

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

async function call(gate: TestGate, path: string, authorization?: string, method: Dispatcher.HttpMethod = 'GET'): Promise<Reply> {
  const response = await request(`${gate.url}${path}`, {
    method,
    dispatcher: gate.dispatcher,
    headers: authorization === undefined ? {} : { authorization },
  });
  return { status: response.statusCode, headers: response.headers, body: await response.body.text() };
}

function errorCode(reply: Reply): string | undefined {
  return (JSON.parse(reply.body) as { errors: Array<{ code: string }> }).errors[0]?.code;
}

function assertChallenge(reply: Reply, what: string): void {
  assert.equal(reply.status, 401, `${what}: ${reply.body}`);
  assert.equal(reply.headers['www-authenticate'], 'Basic realm="Registry realm"', what);
  assert.equal(errorCode(reply), 'UNAUTHORIZED', what);
}

function ldapConfig(slapd: RunningSlapd, url = slapd.url): Record<string, unknown> {
  return {
    url,
    bindDN: slapd.serviceDN,
    bindPasswordFile: slapd.servicePasswordFile,
    userBase: slapd.peopleBase,
    tls: { ca: slapd.caFile },
    timeout: '2s',
  };
}

describe('the gateway with htpasswd and LDAP providers', () => {
  let dir: string;
  let tls: TlsPair;
  let slapd: RunningSlapd;
  let gate: TestGate;
  let image: OciImage;

  before(async () => {
    dir = await makeTempDir('rg-ldap-gateway-');
    [tls, slapd] = await Promise.all([makeTlsPair(join(dir, 'tls')), startSlapd()]);
    gate = await startGate({
      dir: join(dir, 'gate'),
      tls,
      users: { [HANK.user]: HANK.password, [CAROL_LOCAL.user]: CAROL_LOCAL.password },
      config: {
        auth: {
          providers: ['htpasswd', 'ldap'],
          ldap: ldapConfig(slapd),
          // Explicit, so that the directory-down test below would trip them if it counted.
          throttle: { maxFailuresPerAccount: 3, maxFailuresPerIp: 15, baseDelay: '30s' },
        },
        access: ACCESS,
      },
    });
    image = await makeOciImage(join(dir, 'image'), { layers: [2048, 100_000] });
  });

  after(async () => {
    await gate.stop();
    await slapd.close();
    if (dir) await removeDir(dir);
  });

  test('an LDAP user in the push group pushes with skopeo and pulls back identical digests', async () => {
    const alice = { user: 'alice', password: slapd.users.alice.password };
    const pushed = await skopeoCopy({
      from: image.ref,
      to: dockerRef(gate.host, 'ldap/app', 'v1'),
      dest: { creds: alice, certDir: tls.caDir },
      preserveDigests: true,
    });
    assert.equal(pushed.code, 0, pushed.stderr);

    const out = join(dir, 'pulled-alice');
    const pulled = await skopeoCopy({
      from: dockerRef(gate.host, 'ldap/app', 'v1'),
      to: `oci:${out}:v1`,
      src: { creds: alice, certDir: tls.caDir },
      ociAcceptUncompressed: true,
    });
    assert.equal(pulled.code, 0, pulled.stderr);
    const digests = await readOciLayoutDigests(out, 'v1');
    assert.equal(digests.manifestDigest, image.manifestDigest);
    assert.deepEqual(digests.layerDigests, image.layerDigests);
  });

  test('an LDAP user outside the push group is refused the push (403) but may pull', async () => {
    const bob = { user: 'bob', password: slapd.users.bob.password };
    const pushed = await skopeoCopy({
      from: image.ref,
      to: dockerRef(gate.host, 'ldap/app', 'bob'),
      dest: { creds: bob, certDir: tls.caDir },
    });
    assert.notEqual(pushed.code, 0, 'bob must not be able to push');
    assert.ok(!(pushed.stderr + pushed.stdout).includes(bob.password));

    const direct = await call(gate, '/v2/ldap/app/blobs/uploads/', basic(bob.user, bob.password), 'POST');
    assert.equal(direct.status, 403, direct.body);
    assert.equal(errorCode(direct), 'DENIED');

    const out = join(dir, 'pulled-bob');
    const pulled = await skopeoCopy({
      from: dockerRef(gate.host, 'ldap/app', 'v1'),
      to: `oci:${out}:v1`,
      src: { creds: bob, certDir: tls.caDir },
      ociAcceptUncompressed: true,
    });
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.equal((await readOciLayoutDigests(out, 'v1')).manifestDigest, image.manifestDigest);

    const tags = await call(gate, '/v2/ldap/app/tags/list', basic(bob.user, bob.password));
    assert.equal(tags.status, 200, tags.body);
    assert.deepEqual((JSON.parse(tags.body) as { tags: string[] }).tags, ['v1']);
  });

  test('an htpasswd user still works, and for a name in both, the first provider of the chain decides', async () => {
    const hank = await call(gate, '/v2/', basic(HANK.user, HANK.password));
    assert.equal(hank.status, 200, hank.body);
    const pull = await call(gate, '/v2/ldap/app/manifests/v1', basic(HANK.user, HANK.password), 'HEAD');
    assert.equal(pull.status, 200);
    const push = await call(gate, '/v2/ldap/app/blobs/uploads/', basic(HANK.user, HANK.password), 'POST');
    assert.equal(push.status, 403, 'hank is in no push group');

    assert.equal((await call(gate, '/v2/', basic(CAROL_LOCAL.user, CAROL_LOCAL.password))).status, 200, 'carol’s htpasswd password');
    assertChallenge(
      await call(gate, '/v2/', basic('carol', slapd.users.carol.password)),
      'carol’s directory password must not open the htpasswd account',
    );
  });

  test('a non-ASCII LDAP user name and password log in through Basic (UTF-8)', async () => {
    const { zoe } = slapd.users;
    const reply = await call(gate, '/v2/', basic('zoë', zoe.password));
    assert.equal(reply.status, 200, reply.body);
    assertChallenge(await call(gate, '/v2/', basic('zoë', zoe.password.slice(0, -1))), 'zoë, wrong password');
  });

  test('a wrong LDAP password and an unknown user: the same generic 401', async () => {
    const wrong = await call(gate, '/v2/', basic('alice', `${slapd.users.alice.password}x`));
    assertChallenge(wrong, 'wrong password');
    const unknown = await call(gate, '/v2/', basic('mallory', slapd.users.alice.password));
    assertChallenge(unknown, 'unknown user');
    assert.equal(wrong.body, unknown.body);
  });

  test('LDAP filter injection in the Basic user name is refused with 401, even with a real password', async () => {
    const { alice } = slapd.users;
    for (const user of ['*', 'alice)(uid=*', '*)(|(uid=*']) {
      const reply = await call(gate, '/v2/', basic(user, alice.password));
      assertChallenge(reply, `user name ${JSON.stringify(user)}`);
      assert.ok(!reply.body.includes(alice.password));
    }
  });

  test('GET /v2/ with a cached LDAP login and with cold logins (every request searches and binds)', async () => {
    const authorization = basic('alice', slapd.users.alice.password);
    for (let i = 0; i < 3; i += 1) assert.equal((await call(gate, '/v2/', authorization)).status, 200, 'cached');
    const cold = await startGate({
      dir: join(dir, 'cold'),
      tls,
      config: { auth: { providers: ['htpasswd', 'ldap'], ldap: ldapConfig(slapd), cacheTtl: 0 }, access: ACCESS },
    });
    try {
      for (let i = 0; i < 3; i += 1) assert.equal((await call(cold, '/v2/', authorization)).status, 200, 'cold');
      assert.equal((await call(cold, '/v2/', basic('alice', 'wrong-password'))).status, 401, 'a cold login checks the password');
    } finally {
      await cold.stop();
    }
  });

  test('the directory down: 503 UNAVAILABLE with Retry-After, not 401, and not counted towards lockout', async () => {
    const { alice, xavier } = slapd.users;
    // A burst larger than both thresholds (3 per account, 15 per address, of which the tests above used
    // 7), right and wrong passwords alike: counted, it would end in 429s and lock xavier out.
    const attempts = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? xavier.password : `wrong-${i}`));
    await slapd.stop();
    try {
      for (const [i, password] of attempts.entries()) {
        const reply = await call(gate, '/v2/', basic('xavier', password));
        assert.equal(reply.status, 503, `attempt ${i}: ${reply.body}`);
        assert.equal(errorCode(reply), 'UNAVAILABLE');
        assert.equal(reply.headers['retry-after'], '10');
        assert.equal(reply.headers['docker-distribution-api-version'], 'registry/2.0');
        assert.equal(reply.headers['www-authenticate'], undefined, 'not a challenge: the password was never checked');
        assert.ok(!reply.body.includes(password));
      }
      // The chain asks htpasswd first: its users do not need the directory.
      assert.equal((await call(gate, '/v2/', basic(HANK.user, HANK.password))).status, 200);
      // A login verified within auth.cacheTtl does not need it either.
      assert.equal((await call(gate, '/v2/', basic('alice', alice.password))).status, 200);
    } finally {
      await slapd.restart();
    }

    const back = await call(gate, '/v2/', basic('xavier', xavier.password));
    assert.equal(back.status, 200, `xavier after the directory came back: ${back.body}`);
  });
});

describe('the gateway with an LDAP directory on a closed port', () => {
  let dir: string;
  let slapd: RunningSlapd;
  let gate: TestGate;

  before(async () => {
    dir = await makeTempDir('rg-ldap-closed-');
    slapd = await startSlapd();
    const closedUrl = slapd.url;
    await slapd.stop(); // its port is now closed
    gate = await startGate({ dir, config: { auth: { providers: ['htpasswd', 'ldap'], ldap: ldapConfig(slapd, closedUrl) } } });
  });

  after(async () => {
    await gate.stop();
    await slapd.close();
    if (dir) await removeDir(dir);
  });

  test('503 UNAVAILABLE with Retry-After at once, for known and unknown names alike', async () => {
    for (const user of ['alice', 'mallory']) {
      const reply = await within(2000, `the answer for ${user}`, call(gate, '/v2/', basic(user, slapd.users.alice.password)));
      assert.equal(reply.status, 503, reply.body);
      assert.equal(errorCode(reply), 'UNAVAILABLE');
      assert.equal(reply.headers['retry-after'], '10');
    }
  });
});
