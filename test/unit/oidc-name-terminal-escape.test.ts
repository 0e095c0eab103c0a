/**
 * A user or group name from the OpenID provider cannot rewrite an administrator's terminal.
 *
 * The attack: a provider user whose `preferred_username` (in many providers, or with another
 * `usernameClaim`, something users edit themselves) carries C1 controls (U+009B, CSI) or Unicode
 * bidirectional overrides. That name becomes the owner of sessions and personal tokens, and shows
 * in `registry-gate token personal list` and the audit log, where it could clear the screen, move
 * the cursor over another line, or read as someone else's name. Only C0 controls and DEL were
 * refused; now a name or group with any control or bidirectional formatting character is not
 * usable: the sign-in is refused with a reason, such a group left out.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { userFromClaims } from '../../src/auth/oidc/claims.js';

const HOSTILE = ['alice\u009b2J', 'bob\u009b1A\u009b2Kcarol', 'ci-\u202enimda', 'dave\u2066x\u2069', 'eve\u200f', 'mallory\u001b[2J'];

test('a provider user name with a control or bidirectional formatting character is refused', () => {
  for (const name of HOSTILE) {
    const outcome = userFromClaims({ preferred_username: name }, 'preferred_username', 'groups');
    assert.equal(outcome.ok, false, JSON.stringify(name));
  }
});

test('such group names are left out, the others kept', () => {
  const outcome = userFromClaims(
    { preferred_username: 'zoë', groups: ['team-a', ...HOSTILE, 'équipe 👩‍💻'] },
    'preferred_username',
    'groups',
  );
  assert.deepEqual(outcome, { ok: true, user: 'zoë', groups: ['team-a', 'équipe 👩‍💻'] });
});
