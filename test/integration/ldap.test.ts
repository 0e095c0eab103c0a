/**
 * The LDAP provider against a real OpenLDAP slapd on loopback that refuses anything without TLS:
 * StartTLS and ldaps:// verified against the test CA, the service account's search, the user's
 * bind, groups from memberOf and from a group search.
 *
 * Attacks covered: LDAP filter injection in the user name (`xav*`, `alice)(uid=*`, `*)(|(uid=*`)
 * must never authenticate a different or widened entry — each is tried with a real user's right
 * password, so an injectable filter would log in; an empty password must never become an
 * anonymous bind; a directory that is down or silent must answer 503 (RegistryError UNAVAILABLE),
 * quickly, and never with the service account's password in any message.
 */
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { LdapProvider } from '../../src/auth/ldap/index.js';
import { ldapConfigSchema, type LdapConfigInput } from '../../src/config/schema/ldap.js';
import { RegistryError } from '../../src/oci/errors.js';
import { freePort } from '../helpers/process.js';
import { startSlapd, type RunningSlapd } from '../helpers/slapd.js';
import { waitFor, within } from '../helpers/wait.js';

/** Every log line of every provider in this file, to check that no password ever reaches one. */
const logged: string[] = [];
const logger = pino(
  { level: 'debug' },
  new Writable({
    write(chunk: Buffer, _encoding, done) {
      logged.push(chunk.toString('utf8'));
      done();
    },
  }),
);

function configFor(slapd: RunningSlapd, overrides: Partial<LdapConfigInput> = {}): LdapConfigInput {
  return {
    url: slapd.url,
    bindDN: slapd.serviceDN,
    bindPasswordFile: slapd.servicePasswordFile,
    userBase: slapd.suffix,
    userFilter: '(&(objectClass=inetOrgPerson)(uid={user}))',
    tls: { ca: slapd.caFile },
    timeout: '2s',
    ...overrides,
  };
}

async function open(input: LdapConfigInput, env: NodeJS.ProcessEnv = {}): Promise<LdapProvider> {
  return LdapProvider.open({ config: ldapConfigSchema.parse(input), logger, env });
}

/** Asserts that `promise` rejects with UNAVAILABLE and that no message, stack or cause holds `secret`. */
async function assertUnavailable(promise: Promise<unknown>, secret: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof RegistryError, `expected a RegistryError, got ${String(error)}`);
    assert.equal(error.code, 'UNAVAILABLE');
    assert.equal(error.status, 503);
    assert.equal(error.headers['Retry-After'], '10');
    const text = `${error.message}\n${error.stack ?? ''}\n${JSON.stringify(error)}\n${String(error.detail)}`;
    assert.ok(!text.includes(secret), 'the service password leaked into the error');
    return true;
  });
}

describe('LDAP provider against OpenLDAP', () => {
  let slapd: RunningSlapd;
  let memberOf: LdapProvider;
  let groupSearch: LdapProvider;
  let ldaps: LdapProvider;
  const providers: LdapProvider[] = [];

  before(async () => {
    slapd = await startSlapd();
    memberOf = await open(configFor(slapd));
    groupSearch = await open(
      configFor(slapd, {
        bindPasswordFile: undefined,
        bindPasswordEnv: 'LDAP_TEST_BIND_PASSWORD',
        userBase: slapd.peopleBase,
        groupSearch: { base: slapd.groupsBase },
      }),
      { LDAP_TEST_BIND_PASSWORD: slapd.servicePassword },
    );
    ldaps = await open(configFor(slapd, { url: slapd.ldapsUrl }));
    providers.push(memberOf, groupSearch, ldaps);
  });
  after(async () => {
    await Promise.all(providers.map((provider) => provider.close()));
    await slapd.close();
  });

  test('right password: the identity with groups from memberOf (StartTLS)', async () => {
    const { alice, bob, carol } = slapd.users;
    assert.deepEqual(await memberOf.verify({ user: 'alice', password: alice.password }), {
      user: 'alice',
      groups: ['ops, night', 'pushers', 'readers'],
      via: 'ldap',
    });
    assert.deepEqual(await memberOf.verify({ user: 'bob', password: bob.password }), { user: 'bob', groups: ['readers'], via: 'ldap' });
    assert.deepEqual(await memberOf.verify({ user: 'carol', password: carol.password }), { user: 'carol', groups: [], via: 'ldap' });
  });

  test('right password: groups from a group search (password from an env var), and over ldaps://', async () => {
    const { alice, bob } = slapd.users;
    assert.deepEqual(await groupSearch.verify({ user: 'alice', password: alice.password }), {
      user: 'alice',
      groups: ['ops, night', 'pushers', 'readers'],
      via: 'ldap',
    });
    assert.deepEqual((await groupSearch.verify({ user: 'bob', password: bob.password }))?.groups, ['readers']);
    assert.deepEqual((await ldaps.verify({ user: 'bob', password: bob.password }))?.groups, ['readers']);
  });

  test('a non-ASCII user name and password work end to end', async () => {
    const { zoe } = slapd.users;
    assert.equal((await memberOf.verify({ user: 'zoë', password: zoe.password }))?.user, 'zoë');
    assert.equal(await memberOf.verify({ user: 'zoë', password: zoe.password.slice(0, -1) }), null);
  });

  test("the name is always the directory's spelling of the naming attribute (uid, from the filter or userNameAttribute)", async () => {
    const explicit = await open(configFor(slapd, { userNameAttribute: 'uid' }));
    providers.push(explicit);
    for (const provider of [memberOf, explicit]) {
      assert.equal((await provider.verify({ user: 'ALICE', password: slapd.users.alice.password }))?.user, 'alice');
      assert.equal((await provider.verify({ user: 'ａｌｉｃｅ', password: slapd.users.alice.password }))?.user, 'alice');
    }
    const looked = await memberOf.lookup('Alice');
    assert.equal(looked.result === 'accepted' ? looked.identity.user : looked.result, 'alice', 'a refresh re-check names the user alike');
  });

  test('an entry with several names (uid alice and alice.old) is named by the one typed; another attribute of the filter names nobody', async () => {
    const byMail = await open(
      configFor(slapd, { userNameAttribute: 'uid', userFilter: '(&(objectClass=inetOrgPerson)(|(uid={user})(mail={user})))' }),
    );
    providers.push(byMail);
    const { alice, bob } = slapd.users;
    assert.equal((await byMail.verify({ user: 'Alice', password: alice.password }))?.user, 'alice');
    assert.equal((await byMail.verify({ user: 'ALICE.OLD', password: alice.password }))?.user, 'alice.old');
    // The filter matches these entries by mail, and mail is not what names a user: unknown users, for the next provider.
    const before = logged.length;
    assert.deepEqual(await byMail.authenticate({ user: 'bob@example.test', password: bob.password }), { result: 'unknown' });
    assert.deepEqual(await byMail.authenticate({ user: 'alice@example.test', password: alice.password }), { result: 'unknown' });
    assert.deepEqual(await byMail.lookup('bob@example.test'), { result: 'unknown' });
    const explained = logged.slice(before).join('');
    assert.match(explained, /matches this entry only through another attribute of userFilter than its name/);
    assert.match(explained, new RegExp(`"dn":"${slapd.users.bob.dn}"`));
    assert.doesNotMatch(explained, /bob@example\.test/, 'the name typed is not logged');
  });

  test('wrong password, unknown user, no password, and an entry without userPassword: null', async () => {
    const { alice, bob, nopass } = slapd.users;
    assert.equal(await memberOf.verify({ user: 'alice', password: bob.password }), null);
    assert.equal(await memberOf.verify({ user: 'alice', password: alice.password + 'x' }), null);
    assert.equal(await memberOf.verify({ user: 'mallory', password: alice.password }), null);
    assert.equal(await memberOf.verify({ user: 'nopass', password: nopass.password }), null);
    assert.deepEqual(await memberOf.authenticate({ user: 'alice', password: 'nope' }), { result: 'rejected' });
    assert.deepEqual(await memberOf.authenticate({ user: 'mallory', password: 'nope' }), { result: 'unknown' });
  });

  test('an empty password is refused and never becomes an anonymous (unauthenticated) bind', async () => {
    assert.equal(await memberOf.verify({ user: 'alice', password: '' }), null);
    assert.deepEqual(await memberOf.authenticate({ user: 'alice', password: '' }), { result: 'rejected' });
    assert.equal(await memberOf.verify({ user: 'mallory', password: '' }), null);
  });

  test('a user name that matches two entries is refused even with the right password', async () => {
    assert.equal(await memberOf.verify({ user: 'dup', password: slapd.users.dup.password }), null);
    assert.deepEqual(await memberOf.lookup('dup'), { result: 'unknown' });
    // Below ou=people alone the name is unique again.
    assert.equal((await groupSearch.verify({ user: 'dup', password: slapd.users.dup.password }))?.user, 'dup');
  });

  test('lookup tells known from unknown users without a bind, with the groups a login would get', async () => {
    // `credential` says which credential the entry has now (its DN and change time): what sessions are bound to.
    const alice = await memberOf.lookup('alice');
    assert.ok(alice.result === 'accepted');
    assert.deepEqual(alice.identity, { user: 'alice', groups: ['ops, night', 'pushers', 'readers'], via: 'ldap' });
    assert.ok(alice.credential.startsWith(`${slapd.users.alice.dn}\n`), 'bound to the entry');
    const bob = await groupSearch.lookup('bob');
    assert.ok(bob.result === 'accepted');
    assert.deepEqual(bob.identity, { user: 'bob', groups: ['readers'], via: 'ldap' });
    assert.notEqual(bob.credential, alice.credential);
    assert.deepEqual(await memberOf.lookup('mallory'), { result: 'unknown' });
    assert.deepEqual(await memberOf.lookup('*'), { result: 'unknown' });
  });

  test('filter injection in the user name never authenticates anyone, even with a real password', async () => {
    const { alice, xavier } = slapd.users;
    const attempts: Array<[string, string]> = [
      ['xav*', xavier.password],
      ['*', alice.password],
      ['*', xavier.password],
      ['alice)(uid=*', alice.password],
      ['alice)(|(uid=*', alice.password],
      ['*)(|(uid=*', alice.password],
      ['*)(uid=*))(|(uid=*', alice.password],
      ['alice\\', alice.password],
      ['alice\\2a', alice.password],
      ['al\\69ce', alice.password],
      ['alice\u0000', alice.password],
      ['alice\u0000)(uid=*', alice.password],
      ['alice\n', alice.password],
      [' alice', alice.password],
      ['x'.repeat(300), alice.password],
    ];
    for (const [user, password] of attempts) {
      for (const provider of [memberOf, groupSearch]) {
        assert.equal(await provider.verify({ user, password }), null, `user name ${JSON.stringify(user)} must not log in`);
      }
    }
  });

  test('the pool reuses service connections across many logins', async () => {
    const { bob } = slapd.users;
    const results = await Promise.all(Array.from({ length: 12 }, () => memberOf.verify({ user: 'bob', password: bob.password })));
    assert.ok(results.every((identity) => identity?.user === 'bob'));
  });

  test('a wrong service password makes the directory unavailable (503), without leaking it', async () => {
    const wrong = 'not-the-service-password-' + 'x'.repeat(8);
    const provider = await open(configFor(slapd, { bindPasswordFile: undefined, bindPasswordEnv: 'PW' }), { PW: wrong });
    providers.push(provider);
    await assertUnavailable(provider.verify({ user: 'alice', password: slapd.users.alice.password }), wrong);
    await assertUnavailable(provider.probe(), wrong);
  });

  test('a certificate from an untrusted CA is refused (503), never ignored', async () => {
    const provider = await open(configFor(slapd, { tls: {} }));
    providers.push(provider);
    await assertUnavailable(provider.verify({ user: 'alice', password: slapd.users.alice.password }), slapd.servicePassword);
  });

  test('a certificate for another name is refused (503)', async () => {
    const provider = await open(configFor(slapd, { tls: { ca: slapd.caFile, servername: 'ldap.elsewhere.test' } }));
    providers.push(provider);
    await assertUnavailable(provider.verify({ user: 'alice', password: slapd.users.alice.password }), slapd.servicePassword);
  });

  test('after the directory restarts (every pooled connection closed), the next logins work at once', async () => {
    const { alice } = slapd.users;
    for (const provider of [memberOf, ldaps]) assert.ok(await provider.verify({ user: 'alice', password: alice.password }));
    await slapd.restart();
    for (const provider of [memberOf, ldaps]) {
      const identity = await within(1000, 'the login after the restart', provider.verify({ user: 'alice', password: alice.password }));
      assert.equal(identity?.user, 'alice');
    }
  });

  test('a closed port: UNAVAILABLE at once', async () => {
    const provider = await open(configFor(slapd, { url: `ldap://127.0.0.1:${await freePort()}` }));
    providers.push(provider);
    await within(1000, 'UNAVAILABLE', assertUnavailable(provider.verify({ user: 'alice', password: 'whatever' }), slapd.servicePassword));
  });

  describe('a directory that accepts connections and never answers', () => {
    let silent: Server;
    const sockets = new Set<Socket>();
    before(async () => {
      silent = createServer((socket) => {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
      });
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    });
    after(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    });

    test('StartTLS and ldaps://: UNAVAILABLE within the timeout', async () => {
      const { port } = silent.address() as { port: number };
      for (const url of [`ldap://127.0.0.1:${port}`, `ldaps://127.0.0.1:${port}`]) {
        const provider = await open(configFor(slapd, { url, timeout: '700ms' }));
        providers.push(provider);
        const verdict = assertUnavailable(provider.verify({ user: 'alice', password: 'whatever' }), slapd.servicePassword);
        let settled = false;
        void verdict.finally(() => (settled = true)).catch(() => undefined);
        // The provider is waiting on the silent directory, not failing before its timeout ...
        await waitFor(`${url}: connected to the silent directory`, () => sockets.size > 0);
        assert.equal(settled, false, `${url}: still waiting while connected`);
        // ... and gives up with UNAVAILABLE once its 700 ms timeout is over.
        await within(1700, `${url}: UNAVAILABLE after the timeout`, verdict);
      }
    });
  });

  test('slapd stopped: UNAVAILABLE quickly for pooled connections and new ones (runs after the others)', async () => {
    const { alice } = slapd.users;
    assert.ok(await memberOf.verify({ user: 'alice', password: alice.password }));
    await slapd.stop();
    for (const provider of [memberOf, groupSearch, ldaps]) {
      await within(
        3000,
        'UNAVAILABLE for a login and a lookup',
        (async () => {
          await assertUnavailable(provider.verify({ user: 'alice', password: alice.password }), slapd.servicePassword);
          await assertUnavailable(provider.lookup('alice'), slapd.servicePassword);
        })(),
      );
    }
  });

  test('no log line holds the service password or a user password (runs last)', () => {
    const text = logged.join('');
    assert.match(text, /LDAP directory unavailable/);
    for (const secret of [slapd.servicePassword, ...Object.values(slapd.users).map((user) => user.password)]) {
      assert.ok(!text.includes(secret), 'a password was logged');
    }
  });
});
