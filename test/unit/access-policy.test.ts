import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AccessPolicy, protectedTagRefusal } from '../../src/access/policy.js';
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
  assert.deepEqual(
    explanation.matched.map((rule) => [rule.index, rule.grants]),
    [[0, false]],
  );
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

test('explain with a tag: create, move (overwrite) and delete of a protected tag, rule by rule', async () => {
  const policy = new AccessPolicy([
    { repository: 'release/**', actions: ['pull', 'push', 'delete'], subjects: ['authenticated'], protectedTags: ['v*', 'latest'] }, // 0
    { repository: 'release/**', actions: ['pull', 'push', 'overwrite'], subjects: ['user:alice'] }, // 1
  ]);
  const create = await policy.explainTag(bob, 'release/app', 'push', 'v1');
  assert.equal(create.allowed, true, 'creating a protected tag is a push');
  assert.deepEqual(
    create.matched.map((rule) => [rule.index, rule.grants, rule.heldByProtectedTag]),
    [[0, true, false]],
  );
  assert.deepEqual(create.matched[0]?.protectedTags, ['v*', 'latest']);

  const move = await policy.explainTag(bob, 'release/app', 'overwrite', 'v1');
  assert.deepEqual([move.allowed, move.reason], [false, 'protected-tag']);
  assert.deepEqual(
    move.matched.map((rule) => [rule.index, rule.grants, rule.heldByProtectedTag]),
    [[0, false, true]],
  );
  const deletion = await policy.explainTag(bob, 'release/app', 'delete', 'latest');
  assert.deepEqual([deletion.allowed, deletion.reason], [false, 'protected-tag']);

  const unprotected = await policy.explainTag(bob, 'release/app', 'overwrite', 'dev');
  assert.deepEqual([unprotected.allowed, unprotected.ruleIndex], [true, 0], 'moving an unprotected tag is a push');
  const byAlice = await policy.explainTag(alice, 'release/app', 'overwrite', 'v1');
  assert.deepEqual([byAlice.allowed, byAlice.ruleIndex], [true, 1]);
  assert.deepEqual(
    byAlice.matched.map((rule) => [rule.index, rule.grants]),
    [
      [0, false],
      [1, true],
    ],
  );

  // Without a tag, overwrite asks about any tag.
  assert.deepEqual(
    [policy.explain(bob, 'release/app', 'overwrite').allowed, policy.explain(bob, 'release/app', 'overwrite').reason],
    [false, 'protected-tag'],
  );
  assert.equal(policy.explain(alice, 'release/app', 'overwrite').ruleIndex, 1);
  assert.equal(policy.explain(bob, 'other/app', 'overwrite').reason, undefined, 'no rule at all: refused by policy, not a protected tag');
});

test('explainTag gives the decision the server makes (decideContent) for the same request', async () => {
  const policy = new AccessPolicy([
    { repository: '**', actions: ['pull', 'push', 'delete'], subjects: ['authenticated'], protectedTags: ['v*'] },
  ]);
  for (const [request, tag, moves] of [
    ['push', 'v1', false],
    ['overwrite', 'v1', true],
    ['delete', 'v1', false],
    ['push', 'dev', false],
    ['overwrite', 'dev', true],
    ['delete', 'dev', false],
  ] as const) {
    const action = request === 'overwrite' ? 'push' : request;
    const server = await policy.decideContent(
      bob,
      'app',
      action,
      { tag },
      { tagMoves: () => Promise.resolve(moves), blobProtected: () => Promise.resolve(true) },
    );
    const explained = await policy.explainTag(bob, 'app', request, tag);
    assert.deepEqual(explained, { ...server, matched: explained.matched }, `${request} ${tag}`); // the same decision, plus what matched
  }
});

test('the refusal message names the protected tag', () => {
  assert.match(
    protectedTagRefusal({ tag: 'v1.0' }, 'push'),
    /the tag v1\.0 is protected and already names another manifest; moving it needs overwrite/,
  );
  assert.match(protectedTagRefusal({ tag: 'latest' }, 'delete'), /the tag latest is protected; deleting it needs overwrite/);
  assert.match(protectedTagRefusal({ digest: `sha256:${'a'.repeat(64)}` }, 'delete'), /by digest needs overwrite/);
  assert.match(protectedTagRefusal({ blob: `sha256:${'a'.repeat(64)}` }, 'delete'), /blob is used by a protected tag/);
});
