/**
 * Scopes and grants of the token service: the scope grammar of distribution's docs/spec/auth/scope.md
 * (a name may carry a registry host with a port, so actions start after the LAST colon; resource
 * classes; several scopes per parameter and several parameters; invalid scopes are skipped, never
 * fatal), the intersection rule of token.md (a partial grant is not an error), what an access
 * claim covers, and the bearer challenge.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decide } from '../../src/access/decide.js';
import { grantAccess } from '../../src/access/grant.js';
import { AccessPolicy } from '../../src/access/policy.js';
import { accessCovers, accessCoversCatalog } from '../../src/access/scopes.js';
import type { Identity } from '../../src/auth/identity.js';
import { ANONYMOUS } from '../../src/auth/identity.js';
import {
  bearerChallenge,
  CATALOG_SCOPE,
  formatScopeList,
  MAX_SCOPES,
  parseBearerAuthorization,
  parseRobotScope,
  parseScope,
  parseScopeList,
  scopeForRequest,
  type TokenAccess,
} from '../../src/auth/token/index.js';
import type { Action } from '../../src/oci/actions.js';
import { RegistryError } from '../../src/oci/errors.js';

/** A robot's scope entry, made as robots.ts makes it (the name a repository pattern). */
function robotScope(text: string): TokenAccess {
  const parsed = parseRobotScope(text);
  assert.ok('access' in parsed, text);
  return parsed.access;
}

const alice: Identity = { user: 'alice', groups: ['pushers'], via: 'htpasswd' };
const bob: Identity = { user: 'bob', groups: [], via: 'htpasswd' };

const policy = new AccessPolicy([
  { repository: 'public/**', actions: ['pull'], subjects: ['*'] },
  { repository: '**', actions: ['pull'], subjects: ['authenticated'] },
  { repository: '**', actions: ['pull', 'push'], subjects: ['group:pushers'] },
  { repository: 'alice/**', actions: ['pull', 'push', 'delete'], subjects: ['user:alice'] },
]);

describe('parseScope', () => {
  it('parses type, name and actions', () => {
    assert.deepEqual(parseScope('repository:samalba/my-app:pull,push'), {
      type: 'repository',
      name: 'samalba/my-app',
      actions: ['pull', 'push'],
    });
  });

  it('takes actions after the last colon, so a name may hold a registry host and port', () => {
    assert.deepEqual(parseScope('repository:localhost:5000/foo/bar:pull'), {
      type: 'repository',
      name: 'localhost:5000/foo/bar',
      actions: ['pull'],
    });
    assert.deepEqual(parseScope('repository:registry.example.com:443/team/app:push,pull'), {
      type: 'repository',
      name: 'registry.example.com:443/team/app',
      actions: ['push', 'pull'],
    });
  });

  it('reads a resource class and keeps it apart from the type', () => {
    assert.deepEqual(parseScope('repository(plugin):vieux/sshfs:pull'), {
      type: 'repository',
      resourceClass: 'plugin',
      name: 'vieux/sshfs',
      actions: ['pull'],
    });
  });

  it('parses the catalog scope', () => {
    assert.deepEqual(parseScope('registry:catalog:*'), { type: 'registry', name: 'catalog', actions: ['*'] });
  });

  it('drops duplicate and empty actions', () => {
    assert.deepEqual(parseScope('repository:a:pull,,pull,push')?.actions, ['pull', 'push']);
  });

  it('refuses what is not a scope', () => {
    for (const text of [
      '',
      'repository',
      'repository:foo',
      ':foo:pull',
      'repository::pull',
      'repository:foo:',
      'Repository:foo:pull',
      'repo(x:foo:pull',
      'repository:foo:PULL',
      'repository:fo"o:pull',
      'repository:fo\\o:pull',
      'repository:foo:pu-ll',
    ]) {
      assert.equal(parseScope(text), undefined, text);
    }
  });
});

describe('parseScopeList', () => {
  it('accepts several parameters and space-separated scopes, skipping invalid ones', () => {
    const scopes = parseScopeList([
      'repository:a:pull repository:b:push',
      'nonsense',
      'repository:localhost:5000/c:pull',
      '  registry:catalog:*  ',
    ]);
    assert.deepEqual(
      scopes.map((scope) => scope.name),
      ['a', 'b', 'localhost:5000/c', 'catalog'],
    );
  });

  // The attack: one token request naming thousands of scopes, each a policy decision per action.
  it('takes MAX_SCOPES scopes and refuses one more with 400, counting invalid ones and repeated parameters', () => {
    const scopes = (count: number) => Array.from({ length: count }, (_, i) => `repository:r${i}:pull`);
    assert.equal(parseScopeList([scopes(MAX_SCOPES).join(' ')]).length, MAX_SCOPES);
    for (const values of [[scopes(MAX_SCOPES + 1).join(' ')], scopes(MAX_SCOPES + 1), [...scopes(MAX_SCOPES), 'nonsense']]) {
      assert.throws(
        () => parseScopeList(values),
        (error: unknown) =>
          error instanceof RegistryError &&
          error.status === 400 &&
          error.message === `a token request may name at most ${MAX_SCOPES} scopes`,
      );
    }
  });
});

describe('grantAccess', () => {
  it('grants the intersection of what is asked and what the policy allows', () => {
    assert.deepEqual(grantAccess(policy, alice, parseScopeList(['repository:team/app:pull,push,delete'])), [
      { type: 'repository', name: 'team/app', actions: ['pull', 'push'] },
    ]);
  });

  it('grants part of a request without failing, and leaves out what gets nothing', () => {
    assert.deepEqual(grantAccess(policy, bob, parseScopeList(['repository:team/app:pull,push', 'repository:alice/x:delete'])), [
      { type: 'repository', name: 'team/app', actions: ['pull'] },
    ]);
    assert.deepEqual(grantAccess(policy, ANONYMOUS, parseScopeList(['repository:team/app:pull'])), []);
    assert.deepEqual(grantAccess(policy, ANONYMOUS, parseScopeList(['repository:public/base:pull,push'])), [
      { type: 'repository', name: 'public/base', actions: ['pull'] },
    ]);
  });

  it('reads * as every action, and merges scopes for the same repository', () => {
    assert.deepEqual(grantAccess(policy, alice, parseScopeList(['repository:alice/x:*'])), [
      { type: 'repository', name: 'alice/x', actions: ['pull', 'push', 'delete'] },
    ]);
    assert.deepEqual(grantAccess(policy, alice, parseScopeList(['repository:alice/x:push', 'repository:alice/x:pull'])), [
      { type: 'repository', name: 'alice/x', actions: ['pull', 'push'] },
    ]);
  });

  it('drops the resource class (repository(plugin) is a repository)', () => {
    assert.deepEqual(grantAccess(policy, alice, parseScopeList(['repository(plugin):team/plug:pull'])), [
      { type: 'repository', name: 'team/plug', actions: ['pull'] },
    ]);
  });

  it('grants nothing for a name that is not a repository name, such as one with a registry host and port', () => {
    assert.deepEqual(
      grantAccess(
        policy,
        alice,
        parseScopeList(['repository:localhost:5000/team/app:pull', 'repository:Team/App:pull', 'repository:a//b:pull']),
      ),
      [],
    );
  });

  it('grants registry:catalog:* to callers who may pull anything, and ignores other types', () => {
    assert.deepEqual(grantAccess(policy, bob, parseScopeList([CATALOG_SCOPE, 'namespace:team:pull'])), [
      { type: 'registry', name: 'catalog', actions: ['*'] },
    ]);
    const nobody = new AccessPolicy([{ repository: 'x', actions: ['push'], subjects: ['*'] }]);
    assert.deepEqual(grantAccess(nobody, bob, parseScopeList([CATALOG_SCOPE])), []);
    assert.deepEqual(grantAccess(policy, bob, parseScopeList(['registry:catalog:search'])), []);
  });

  it('limits a scoped caller (a robot) to its own scopes as well as the policy', () => {
    const robot: Identity = {
      user: 'robot$ci',
      groups: [],
      via: 'robot',
      tokenAccess: [robotScope('repository:team/*:pull,push')],
    };
    const open = new AccessPolicy([{ repository: '**', actions: ['pull', 'push', 'delete'], subjects: ['authenticated'] }]);
    assert.deepEqual(
      grantAccess(
        open,
        robot,
        parseScopeList(['repository:team/app:pull,push,delete', 'repository:other/app:pull', 'repository:team/a/b:pull', CATALOG_SCOPE]),
      ),
      [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }],
    );
  });
});

describe('what access covers', () => {
  const access = [
    { type: 'repository', name: 'team/app', actions: ['pull'] },
    { type: 'repository', name: 'team/all', actions: ['*'] },
    { type: 'registry', name: 'catalog', actions: ['*'] },
  ];

  it('checks repository and action, with * for every action', () => {
    assert.equal(accessCovers(access, 'team/app', 'pull'), true);
    assert.equal(accessCovers(access, 'team/app', 'push'), false);
    assert.equal(accessCovers(access, 'team/all', 'delete'), true);
    assert.equal(accessCovers(access, 'team/other', 'pull'), false);
    assert.equal(accessCoversCatalog(access), true);
    assert.equal(accessCoversCatalog(access.slice(0, 2)), false);
  });

  it('compares names in a token literally: a pattern-looking name never matches as a pattern', () => {
    assert.equal(accessCovers([{ type: 'repository', name: 'team/*', actions: ['pull'] }], 'team/app', 'pull'), false);
    assert.equal(accessCovers([robotScope('repository:team/*:pull')], 'team/app', 'pull'), true);
    assert.equal(accessCovers([robotScope('repository:team/**:pull')], 'team/a/b', 'pull'), true);
  });

  it('needs the policy and the scopes together at the gateway', () => {
    const open = new AccessPolicy([{ repository: '**', actions: ['pull', 'push', 'delete'], subjects: ['authenticated'] }]);
    const isAuthorized = (rules: AccessPolicy, identity: Identity, repository: string, action: Action) =>
      decide(rules, identity, { kind: 'repository', repository, action }).allowed;
    const scopesAllow = (identity: Identity, repository: string, action: Action) => isAuthorized(open, identity, repository, action);
    const scoped: Identity = {
      ...bob,
      via: 'token',
      tokenAccess: [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }],
    };
    assert.equal(isAuthorized(policy, scoped, 'team/app', 'pull'), true);
    assert.equal(isAuthorized(policy, scoped, 'team/app', 'push'), false, 'the policy does not let bob push');
    assert.equal(isAuthorized(policy, scoped, 'team/other', 'pull'), false, 'the token does not name it');
    assert.equal(isAuthorized(policy, bob, 'team/other', 'pull'), true, 'no scopes: the policy alone');
    assert.equal(scopesAllow(bob, 'anything', 'delete'), true);
    assert.equal(scopesAllow(scoped, 'team/app', 'push'), true);
    assert.equal(scopesAllow({ ...bob, tokenAccess: [] }, 'team/app', 'pull'), false, 'an empty access claim allows nothing');
    assert.deepEqual(decide(policy, scoped, { kind: 'repository', repository: 'team/other', action: 'pull' }), {
      allowed: false,
      ruleIndex: -1,
      reason: 'scope',
    });
    assert.deepEqual(decide(policy, scoped, { kind: 'repository', repository: 'team/app', action: 'push' }), {
      allowed: false,
      ruleIndex: -1,
      reason: 'policy',
    });
  });

  it('lists the catalog by policy with registry:catalog:*, else by the scopes', () => {
    const catalog: Identity = { ...bob, via: 'token', tokenAccess: [{ type: 'registry', name: 'catalog', actions: ['*'] }] };
    const one: Identity = { ...bob, via: 'token', tokenAccess: [{ type: 'repository', name: 'team/app', actions: ['pull'] }] };
    const none: Identity = { ...bob, via: 'token', tokenAccess: [] };
    const mayListCatalog = (rules: AccessPolicy, identity: Identity) => decide(rules, identity, { kind: 'catalog' }).allowed;
    const showsInCatalog = (rules: AccessPolicy, identity: Identity, repository: string) =>
      decide(rules, identity, { kind: 'catalog-entry', repository }).allowed;
    assert.equal(mayListCatalog(policy, catalog), true);
    assert.equal(showsInCatalog(policy, catalog, 'anything/else'), true);
    assert.equal(mayListCatalog(policy, one), true);
    assert.equal(showsInCatalog(policy, one, 'team/app'), true);
    assert.equal(showsInCatalog(policy, one, 'anything/else'), false);
    assert.equal(mayListCatalog(policy, none), false);
  });
});

describe('bearer challenge and header', () => {
  it('words the challenge as Distribution does', () => {
    assert.equal(
      bearerChallenge({
        realm: 'https://gate.example/auth/token',
        service: 'registry-gate',
        scope: scopeForRequest('samalba/my-app', 'push'),
      }),
      'Bearer realm="https://gate.example/auth/token",service="registry-gate",scope="repository:samalba/my-app:pull,push"',
    );
    assert.equal(
      bearerChallenge({
        realm: 'https://r/t',
        service: 's',
        scope: [scopeForRequest('a', 'pull'), scopeForRequest('b', 'delete')],
        error: 'insufficient_scope',
      }),
      'Bearer realm="https://r/t",service="s",scope="repository:a:pull repository:b:delete",error="insufficient_scope"',
    );
    assert.equal(bearerChallenge({ realm: 'https://r/t', service: 's' }), 'Bearer realm="https://r/t",service="s"');
    assert.equal(CATALOG_SCOPE, 'registry:catalog:*');
    assert.equal(
      formatScopeList([
        { type: 'repository', name: 'a', actions: ['pull', 'push'] },
        { type: 'registry', name: 'catalog', actions: ['*'] },
      ]),
      'repository:a:pull,push registry:catalog:*',
    );
  });

  it('reads a bearer header, and tells other schemes and junk apart', () => {
    assert.deepEqual(parseBearerAuthorization('Bearer abc.def-_~+/ghi=='), { token: 'abc.def-_~+/ghi==' });
    assert.deepEqual(parseBearerAuthorization('bearer   abc'), { token: 'abc' });
    assert.equal(parseBearerAuthorization(undefined), 'absent');
    assert.equal(parseBearerAuthorization('Basic YTpi'), 'other-scheme');
    assert.equal(parseBearerAuthorization('Bearer'), 'malformed');
    assert.equal(parseBearerAuthorization('Bearer a b'), 'malformed');
    assert.equal(parseBearerAuthorization('Bearer ' + 'a'.repeat(9000)), 'malformed');
  });
});
