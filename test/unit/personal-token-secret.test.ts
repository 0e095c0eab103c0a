/**
 * The personal token secret's shape, which secret scanners rely on: `rgpat_`, 32 base62 characters
 * of randomness, a 6-character base62 CRC32 of what precedes; a change of any character breaks the
 * checksum. And the claims an OpenID provider sends, turned into a user name and groups.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isWellFormedPersonalToken, looksLikePersonalToken, newPersonalTokenSecret } from '../../src/auth/personal-tokens/secret.js';
import { userFromClaims } from '../../src/auth/oidc/claims.js';
import { safeReturnPath } from '../../src/ui/oidc.js';

test('a new secret has the prefix, 38 base62 characters and a checksum that holds', () => {
  const secrets = new Set(Array.from({ length: 200 }, () => newPersonalTokenSecret()));
  assert.equal(secrets.size, 200);
  for (const secret of secrets) {
    assert.match(secret, /^rgpat_[0-9A-Za-z]{38}$/);
    assert.ok(isWellFormedPersonalToken(secret));
    assert.ok(looksLikePersonalToken(secret));
  }
  // Every character class turns up at every position over enough secrets: the randomness is the whole alphabet.
  const first = new Set([...secrets].map((secret) => secret.charAt(6)));
  assert.ok(first.size > 40, `first random character took ${first.size} values`);
});

test('a changed character, a truncation or another prefix fails the checksum or the shape', () => {
  const secret = newPersonalTokenSecret();
  const changed = secret.slice(0, 10) + (secret.charAt(10) === 'a' ? 'b' : 'a') + secret.slice(11);
  assert.equal(isWellFormedPersonalToken(changed), false);
  assert.equal(isWellFormedPersonalToken(secret.slice(0, -1)), false);
  assert.equal(isWellFormedPersonalToken(`ghp_${secret.slice(6)}`), false);
  assert.equal(isWellFormedPersonalToken(`${secret} `), false);
});

test('claims: a usable name and groups, or a reason', () => {
  assert.deepEqual(
    userFromClaims({ preferred_username: 'alice', groups: ['a', 'b', 'a', 3, 'bad,name'] }, 'preferred_username', 'groups'),
    {
      ok: true,
      user: 'alice',
      groups: ['a', 'b'],
    },
  );
  assert.deepEqual(userFromClaims({ upn: 'bob@example.com', roles: 'admins' }, 'upn', 'roles'), {
    ok: true,
    user: 'bob@example.com',
    groups: ['admins'],
  });
  for (const claims of [
    {},
    { preferred_username: '' },
    { preferred_username: 'a,b' },
    { preferred_username: ' alice' },
    { preferred_username: 7 },
    { preferred_username: 'ROBOT$ci' },
  ])
    assert.equal(userFromClaims(claims, 'preferred_username', 'groups').ok, false, JSON.stringify(claims));
  assert.equal(
    userFromClaims({ preferred_username: 'x', groups: Array.from({ length: 300 }, (_v, i) => `g${i}`) }, 'preferred_username', 'groups').ok,
    false,
  );
});

test('the return address after sign-in: pages of this UI only', () => {
  for (const good of ['/ui/', '/ui/tokens', '/ui/r/team-a/app', '/ui/r/team-a/app/-/manifest/v1', '/ui/?page=2'])
    assert.equal(safeReturnPath(good), good);
  for (const bad of [
    null,
    '',
    '/',
    '//evil',
    '/ui//x',
    '/ui/../x',
    'https://evil/ui/',
    '/ui/oidc/callback',
    '/ui/logout',
    '/ui/static/ui.js',
    '/ui/?a=<b>',
    '/ui/?a?b',
    `/ui/${'a'.repeat(1100)}`,
  ])
    assert.equal(safeReturnPath(bad), undefined, String(bad));
});
