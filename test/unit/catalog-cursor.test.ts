/**
 * Catalog page tokens (src/access/catalog-cursor.ts): a token stands for a repository name the
 * caller may not see, so it must give nothing of the name away — not its text, not its length —
 * and only the key that made it may open it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { catalogCursors } from '../../src/access/catalog-cursor.js';
import { RegistryError } from '../../src/oci/errors.js';

test('a token opens to its name, and plain names pass through', () => {
  const cursors = catalogCursors();
  for (const name of ['a', 'team-b/secret', `x/${'y'.repeat(253)}`]) assert.equal(cursors.open(cursors.seal(name)), name);
  assert.equal(cursors.open('team-a/app'), 'team-a/app');
});

test('tokens say nothing of the name: same length for short and long names, never the same twice', () => {
  const cursors = catalogCursors();
  const short = cursors.seal('a');
  const long = cursors.seal(`secret/${'x'.repeat(240)}`);
  assert.equal(short.length, long.length);
  assert.notEqual(cursors.seal('a'), short);
  for (const token of [short, long]) assert.doesNotMatch(token, /secret|xxxx/);
});

test('only the same key opens a token: another process, an altered or a made-up token is a 400', () => {
  const secret = randomBytes(32);
  const one = catalogCursors(secret);
  const token = one.seal('team-b/secret');
  assert.equal(catalogCursors(secret).open(token), 'team-b/secret', 'workers sharing the secret open each other’s tokens');
  const refused = (last: string) =>
    assert.throws(
      () => one.open(last),
      (error: unknown) => error instanceof RegistryError && error.status === 400,
      last,
    );
  refused(catalogCursors().seal('team-b/secret'));
  refused(catalogCursors(randomBytes(32)).seal('team-b/secret'));
  refused(`${token.slice(0, 40)}${token[40] === 'A' ? 'B' : 'A'}${token.slice(41)}`);
  refused(token.slice(0, -4));
  refused('~');
  refused('~not base64!');
});
