import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AccessPolicy } from '../../src/access/policy.js';
import { compileRepositoryPattern } from '../../src/access/pattern.js';
import { ANONYMOUS, type Identity } from '../../src/auth/identity.js';

const alice: Identity = { user: 'alice', groups: ['pushers'], via: 'htpasswd' };
const bob: Identity = { user: 'bob', groups: [], via: 'htpasswd' };

test('* stays within a component, ** crosses components', () => {
  const one = compileRepositoryPattern('team-a/*');
  assert.ok(one.matches('team-a/app', null, []));
  assert.ok(!one.matches('team-a/app/sub', null, []));
  assert.ok(!one.matches('team-b/app', null, []));
  const any = compileRepositoryPattern('team-a/**');
  assert.ok(any.matches('team-a/app/sub', null, []));
  assert.ok(!any.matches('team-a', null, []));
  assert.ok(compileRepositoryPattern('**').matches('x/y/z', null, []));
  assert.ok(!compileRepositoryPattern('a.b').matches('axb', null, []), 'dots are literal');
});

test('${user} and ${group} match only the caller', () => {
  const personal = compileRepositoryPattern('users/${user}/**');
  assert.ok(personal.matches('users/alice/app', 'alice', []));
  assert.ok(!personal.matches('users/bob/app', 'alice', []));
  assert.ok(!personal.matches('users/alice/app', null, []));
  const team = compileRepositoryPattern('teams/${group}/*');
  assert.ok(team.matches('teams/pushers/app', 'alice', ['pushers']));
  assert.ok(!team.matches('teams/admins/app', 'alice', ['pushers']));
});

test('the recipe: everyone authenticated pulls, only the push group pushes', () => {
  const policy = new AccessPolicy([
    { repository: '**', actions: ['pull'], subjects: ['authenticated'] },
    { repository: '**', actions: ['pull', 'push', 'delete'], subjects: ['group:pushers'] },
  ]);
  assert.deepEqual(policy.decide(alice, 'test', 'push'), { allowed: true, ruleIndex: 1 });
  assert.deepEqual(policy.decide(bob, 'test', 'pull'), { allowed: true, ruleIndex: 0 });
  assert.equal(policy.decide(bob, 'test', 'push').allowed, false);
  assert.equal(policy.decide(ANONYMOUS, 'test', 'pull').allowed, false);
  const explanation = policy.explain(bob, 'test', 'push');
  assert.deepEqual(explanation.matched.map((rule) => [rule.index, rule.grants]), [[0, false]]);
});

test('without rules: authenticated users pull and push, nobody deletes, anonymous nothing', () => {
  const policy = new AccessPolicy(undefined);
  assert.ok(policy.decide(bob, 'x', 'pull').allowed);
  assert.ok(policy.decide(bob, 'x', 'push').allowed);
  assert.ok(!policy.decide(bob, 'x', 'delete').allowed);
  assert.ok(!policy.decide(ANONYMOUS, 'x', 'pull').allowed);
  assert.ok(!policy.mayEver(ANONYMOUS, 'pull'));
});

test('a group subject never matches an anonymous caller', () => {
  const policy = new AccessPolicy([{ repository: '**', actions: ['pull'], subjects: ['group:pushers'] }]);
  assert.ok(!policy.decide({ user: null, groups: ['pushers'], via: 'anonymous' }, 'x', 'pull').allowed);
});
