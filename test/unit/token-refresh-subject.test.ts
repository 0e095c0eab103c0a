/**
 * The re-check of a refresh token's subject (src/auth/token/refresh-subject.ts), rule by rule,
 * with a real provider chain, a real robot store and a real token service. The attacks it stops:
 * a refresh token that outlives its user (deleted, or moved out of a group), one that is taken over
 * by another account of the same name (a directory user's name that later appears in the htpasswd
 * file, a robot made anew under a revoked robot's name), one that outlives the credential it was
 * issued for (a changed password: another credential stamp) or its user's `token revoke --user`,
 * and a refresh that falls back on what the token recorded when the provider cannot answer.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ProviderChain } from '../../src/auth/chain.js';
import { configGroups } from '../../src/auth/groups.js';
import type { AuthOutcome, AuthProvider, Identity } from '../../src/auth/identity.js';
import {
  createRefreshIdentity,
  createRobot,
  mayRefresh,
  revokeRobot,
  RobotProvider,
  SigningKeys,
  TokenService,
} from '../../src/auth/token/index.js';
import { RegistryError } from '../../src/oci/errors.js';

/** A provider whose users are a mutable map, as a reloaded file would be. */
function usersProvider(name: 'htpasswd' | 'ldap', users: Map<string, readonly string[]>): AuthProvider {
  return {
    name,
    verify: () => Promise.resolve(null),
    lookup(user: string): Promise<AuthOutcome> {
      const groups = users.get(user);
      return Promise.resolve(groups ? { result: 'accepted', identity: { user, groups, via: name } } : { result: 'unknown' });
    },
  };
}

describe('refresh token subjects are re-checked', () => {
  let dir: string;
  let robotsFile: string;
  let robots: RobotProvider;
  let keys: SigningKeys;
  let tokens: TokenService;
  const local = new Map<string, readonly string[]>([['alice', []]]);
  const directory = new Map<string, readonly string[]>([['lena', ['pushers']]]);
  let chain: ProviderChain;
  const refreshIdentity = () => createRefreshIdentity((user) => chain.lookup(user), [configGroups({ releasers: ['alice'] })]);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rg-refresh-subject-'));
    robotsFile = join(dir, 'robots.json');
    await createRobot(robotsFile, { name: 'ci', scopes: ['repository:ci/*:pull'], expires: null });
    robots = await RobotProvider.open({ file: robotsFile, watch: { watch: false, pollIntervalMs: 60_000 } });
    chain = new ProviderChain([robots, usersProvider('htpasswd', local), usersProvider('ldap', directory)]);
    keys = await SigningKeys.open({ dir: join(dir, 'keys'), algorithm: 'ES256', watch: false });
    tokens = new TokenService({ issuer: 'gate', service: 'gate.test', keys });
  });

  after(async () => {
    await robots.close();
    await keys.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** What the token endpoint does: verify the refresh token, then re-check its subject. */
  async function refreshed(identity: Identity): Promise<Identity | null> {
    const claims = await tokens.verifyRefreshToken(await tokens.issueRefreshToken(identity));
    return refreshIdentity()({ user: claims.sub, via: claims.via, subjectId: claims.subjectId });
  }

  it('records the provider (and a robot id) in the refresh token', async () => {
    const claims = await tokens.verifyRefreshToken(await tokens.issueRefreshToken({ user: 'lena', groups: ['pushers'], via: 'ldap' }));
    assert.equal(claims.via, 'ldap');
    assert.equal(claims.subjectId, undefined);
    const robot = await robots.lookup('robot$ci');
    assert.ok(robot.result === 'accepted');
    const robotClaims = await tokens.verifyRefreshToken(await tokens.issueRefreshToken(robot.identity));
    assert.equal(robotClaims.via, 'robot');
    assert.equal(robotClaims.subjectId, robot.identity.subjectId);
  });

  it('a subject its provider still has gets the identity of now, with groups from every source', async () => {
    assert.deepEqual(await refreshed({ user: 'alice', groups: ['stale-group'], via: 'htpasswd' }), {
      user: 'alice',
      groups: ['releasers'],
      via: 'htpasswd',
    });
    directory.set('lena', []);
    assert.deepEqual(
      await refreshed({ user: 'lena', groups: ['pushers'], via: 'ldap' }),
      { user: 'lena', groups: [], via: 'ldap' },
      'a group left is a right lost',
    );
    directory.set('lena', ['pushers']);
  });

  it('a subject that no provider has any more is refused', async () => {
    local.set('gone', []);
    const identity: Identity = { user: 'gone', groups: [], via: 'htpasswd' };
    const claims = await tokens.verifyRefreshToken(await tokens.issueRefreshToken(identity));
    local.delete('gone');
    assert.equal(await refreshIdentity()({ user: claims.sub, via: claims.via }), null);
  });

  it('a subject that another provider answers for now is refused (the same name is not the same user)', async () => {
    local.set('lena', []);
    try {
      assert.equal(await refreshed({ user: 'lena', groups: ['pushers'], via: 'ldap' }), null);
    } finally {
      local.delete('lena');
    }
  });

  it('a refresh token from before the provider was recorded is judged by the provider that has the name now', async () => {
    assert.deepEqual(await refreshIdentity()({ user: 'lena' }), { user: 'lena', groups: ['pushers'], via: 'ldap' });
    assert.equal(await refreshIdentity()({ user: 'nobody' }), null);
  });

  it('a robot made anew under a revoked robot’s name is not that robot; a robot token without an id is refused', async () => {
    const before = await robots.lookup('robot$ci');
    assert.ok(before.result === 'accepted');
    const old = { user: 'robot$ci', via: 'robot', subjectId: before.identity.subjectId };
    assert.equal((await refreshIdentity()(old))?.user, 'robot$ci');
    assert.equal(await refreshIdentity()({ user: 'robot$ci', via: 'robot' }), null, 'no id, no robot');
    assert.equal(await refreshIdentity()({ user: 'robot$ci' }), null, 'no id, no robot');

    await revokeRobot(robotsFile, 'ci');
    await createRobot(robotsFile, { name: 'ci', scopes: ['repository:ci/*:pull'], expires: null });
    await robots.reload();
    const after = await robots.lookup('robot$ci');
    assert.ok(after.result === 'accepted');
    assert.notEqual(after.identity.subjectId, before.identity.subjectId);
    assert.equal(await refreshIdentity()(old), null);
    assert.equal((await refreshIdentity()({ ...old, subjectId: after.identity.subjectId }))?.user, 'robot$ci');
  });

  it('a robot$ name is the robot store’s alone: another provider with that name does not answer for it', async () => {
    local.set('robot$ghost', []);
    try {
      assert.equal(await refreshIdentity()({ user: 'robot$ghost', via: 'htpasswd' }), null);
    } finally {
      local.delete('robot$ghost');
    }
  });

  it('a provider that cannot look users up ends the search, refused', async () => {
    const blind: AuthProvider = { name: 'blind', verify: () => Promise.resolve(null) };
    const check = createRefreshIdentity((user) => new ProviderChain([blind, usersProvider('htpasswd', local)]).lookup(user), []);
    assert.equal(await check({ user: 'alice', via: 'htpasswd' }), null);
  });

  it('a provider that cannot answer makes the refresh fail, never fall back on the token', async () => {
    const down: AuthProvider = {
      name: 'ldap',
      verify: () => Promise.resolve(null),
      lookup: () => Promise.reject(new RegistryError('UNAVAILABLE')),
    };
    const check = createRefreshIdentity((user) => new ProviderChain([down]).lookup(user), []);
    await assert.rejects(check({ user: 'lena', via: 'ldap' }), (error: unknown) => error instanceof RegistryError && error.status === 503);
  });

  it('a changed credential (another stamp) or a revocation of the user after issue is refused', async () => {
    const hashes = new Map([['alice', 'hash-1']]);
    const stamped: AuthProvider = {
      name: 'htpasswd',
      verify: () => Promise.resolve(null),
      lookup: (user) =>
        Promise.resolve(
          hashes.has(user)
            ? { result: 'accepted', identity: { user, groups: [], via: 'htpasswd' }, credential: hashes.get(user) }
            : { result: 'unknown' },
        ),
    };
    const stampingChain = new ProviderChain([stamped], undefined, (provider, identity, credential) =>
      [provider, identity.user, credential].join('/'),
    );
    const revokedAt = new Map<string, number>();
    const check = createRefreshIdentity((user) => stampingChain.lookup(user), [], { notBefore: (user) => revokedAt.get(user) });
    const outcome = await stampingChain.lookup('alice');
    assert.ok(outcome.result === 'accepted');
    const issued = { user: 'alice', via: 'htpasswd', credentialStamp: outcome.identity.credentialStamp, issuedAt: 1_000 };
    assert.equal(outcome.identity.credentialStamp, 'htpasswd/alice/hash-1', 'the chain stamps what the provider found');
    assert.equal((await check(issued))?.user, 'alice');
    assert.equal(await check({ ...issued, credentialStamp: undefined }), null, 'a token from before stamps');

    hashes.set('alice', 'hash-2');
    assert.equal(await check(issued), null, 'the password changed: another stamp');
    hashes.set('alice', 'hash-1');
    revokedAt.set('alice', 2_000);
    assert.equal(await check(issued), null, 'issued before `token revoke --user alice`');
    assert.equal((await check({ ...issued, issuedAt: 2_000 }))?.user, 'alice', 'issued after it');
  });

  it('refresh tokens go only to subjects a provider can re-check', () => {
    assert.equal(mayRefresh({ user: 'alice', groups: [], via: 'htpasswd' }), true);
    assert.equal(mayRefresh({ user: 'lena', groups: [], via: 'ldap' }), true);
    assert.equal(mayRefresh({ user: 'robot$ci', groups: [], via: 'robot' }), true);
    assert.equal(mayRefresh({ user: 'sso-user', groups: [], via: 'header' }), false, "an SSO proxy's user is asked of nobody");
    assert.equal(mayRefresh({ user: null, groups: [], via: 'anonymous' }), false);
  });
});
