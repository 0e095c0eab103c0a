/**
 * `${claims.NAME}` in repository patterns, and what the config accepts of trust policies: a
 * federated user's name always carries a literal prefix ending in `:` (so it can never be a
 * password user's), two issuers never share a prefix, a robot's scope cannot name claims.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRepositoryPattern } from '../../src/access/pattern.js';
import { federationSchema } from '../../src/config/schema/federation.js';
import { repositoryPatternProblem } from '../../src/config/schema/repository-pattern.js';
import { FederatedNames } from '../../src/auth/federation/index.js';

const POLICY = {
  name: 'github',
  issuer: 'https://token.actions.githubusercontent.com',
  audience: 'https://registry.test',
  user: 'gh:${claims.repository}',
};

test('a claim fills its placeholder only as a whole, valid repository name', () => {
  const pattern = compileRepositoryPattern('ci/${claims.repository}/**');
  const matches = (repository: string, claim: string | undefined) =>
    pattern.matches(repository, 'gh:x', [], claim === undefined ? {} : { repository: claim });
  assert.ok(matches('ci/octo-org/app/web', 'octo-org/app'));
  assert.ok(!matches('ci/octo-org/app-evil/web', 'octo-org/app'), 'a prefix of a component is not the namespace');
  assert.ok(!matches('ci/octo-org/other/web', 'octo-org/app'));
  for (const hostile of ['Octo-Org/App', '../other', 'octo-org/*', 'octo-org/**', 'a b', 'octo-org//app', '', 'octo-org/app\n']) {
    assert.ok(!matches(`ci/${hostile}/web`, hostile), `${JSON.stringify(hostile)} matches nothing`);
    assert.ok(!matches('ci/octo-org/app/web', hostile), `${JSON.stringify(hostile)} matches nothing`);
  }
  assert.ok(!matches('ci/octo-org/app/web', undefined), 'an absent claim matches nothing');
  assert.ok(!pattern.matches('ci/octo-org/app/web', 'octo-org/app', []), 'a caller without claims (a password user) matches nothing');
});

test('claims are accepted in access rules, not in robot scopes; capitals only inside a claim placeholder', () => {
  assert.equal(repositoryPatternProblem('ci/${claims.repository}/**', { claims: true }), undefined);
  assert.match(repositoryPatternProblem('ci/${claims.repository}/**') ?? '', /not accepted here/);
  assert.match(repositoryPatternProblem('ci/${claims.a b}', { claims: true }) ?? '', /not a claim name/);
  assert.match(repositoryPatternProblem('ci/${claim.repository}', { claims: true }) ?? '', /unknown placeholder/);
  assert.equal(repositoryPatternProblem('ci/${claims.projectPath}', { claims: true }), undefined);
  assert.match(repositoryPatternProblem('CI/${claims.repository}', { claims: true }) ?? '', /lower case/);
});

test('a federated user name needs a literal prefix ending in ":", never shared between issuers', () => {
  assert.ok(federationSchema.safeParse([POLICY]).success);
  for (const user of ['${claims.repository}', 'gh-${claims.repository}', '${claims.owner}:x', 'ci']) {
    assert.ok(!federationSchema.safeParse([{ ...POLICY, user }]).success, `user ${user} is refused`);
  }
  const sameIssuer = [POLICY, { ...POLICY, name: 'github-main', audience: 'https://other.test' }];
  assert.ok(federationSchema.safeParse(sameIssuer).success, 'one issuer, two policies, one prefix');
  const otherIssuer = [POLICY, { ...POLICY, name: 'gitlab', issuer: 'https://gitlab.example.com', user: 'GH:${claims.project_path}' }];
  assert.ok(!federationSchema.safeParse(otherIssuer).success, 'a prefix (in any case) belongs to one issuer');
  assert.ok(!federationSchema.safeParse([{ ...POLICY, issuer: 'http://token.example.com' }]).success, 'https only');
  assert.ok(!federationSchema.safeParse([{ ...POLICY, audience: undefined }]).success, 'the audience is required');
  assert.ok(!federationSchema.safeParse([POLICY, POLICY]).success, 'names are unique');
});

test('the provider chain owns every spelling of a federated prefix, so no password user can take such a name', async () => {
  const names = new FederatedNames(['gh:']);
  for (const user of ['gh:octo-org/app', 'GH:octo-org/app', 'Gh:anything']) {
    assert.deepEqual(await names.authenticate({ user, password: 'whatever' }), { result: 'rejected' }, user);
    assert.deepEqual(await names.lookup(user), { result: 'rejected' }, user);
  }
  assert.deepEqual(await names.authenticate({ user: 'alice', password: 'pw' }), { result: 'unknown' });
});
