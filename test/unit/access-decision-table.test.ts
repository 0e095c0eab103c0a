/**
 * The decision table. Every expected answer here is written out by hand from the rules below, not
 * computed with the code under test:
 *
 * - `decide` (src/access/decide.ts) for identity × repository × action: allowed by which rule, or
 *   refused and why (the rules, a protected tag, or the caller's scopes: a robot's, a bearer
 *   token's), and the catalog and protected-tag decisions;
 * - the whole gateway for a few hundred (identity, method, path) combinations: the upstream is a
 *   recorder that says yes to everything, so an allowed request must arrive there exactly as sent
 *   (and its answer come back), and a denied one must never arrive: 401 with the Basic challenge for
 *   an anonymous caller, 403 DENIED for an authenticated one. Which action a method+path needs is
 *   written out here independently of src/gateway/actions.ts, from the distribution spec.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request, type Dispatcher } from 'undici';
import { decide, type AccessDecision } from '../../src/access/decide.js';
import { AccessPolicy, type ContentProbe, type ManifestTarget } from '../../src/access/policy.js';
import type { Action } from '../../src/oci/actions.js';
import type { AccessRuleConfig } from '../../src/config/schema.js';
import type { Identity } from '../../src/auth/identity.js';
import { parseRobotScope, type TokenAccess } from '../../src/auth/token/index.js';
import { startHeaderCapture, type CapturedRequest, type CannedResponse, type HeaderCapture } from '../helpers/header-capture.js';
import { startGate, basic, type TestGate } from '../helpers/gate.js';
import { makeTempDir, removeDir } from '../helpers/process.js';

const REALM = 'Decision table realm';
const DIGEST = `sha256:${'ab'.repeat(32)}`;
const UPLOAD_ID = 'b7f1c2d4-upload';

const RULES: AccessRuleConfig[] = [
  { repository: 'public/**', actions: ['pull'], subjects: ['*'] }, // 0
  { repository: 'team-a/**', actions: ['pull', 'push'], subjects: ['group:team-a'] }, // 1
  { repository: 'team-b/**', actions: ['pull', 'push', 'delete'], subjects: ['group:team-b'] }, // 2
  { repository: 'users/${user}/**', actions: ['pull', 'push', 'delete'], subjects: ['authenticated'] }, // 3
  { repository: 'team-a/**', actions: ['pull'], subjects: ['user:reader'] }, // 4
  { repository: 'shared/${group}', actions: ['pull'], subjects: ['authenticated'] }, // 5
  { repository: 'release/*', actions: ['pull', 'push', 'delete'], subjects: ['group:team-a'], protectedTags: ['v*', 'latest'] }, // 6
  { repository: 'release/*', actions: ['pull', 'push', 'delete', 'overwrite'], subjects: ['user:admin'] }, // 7
  { repository: 'team-b/**', actions: ['pull', 'push', 'delete'], subjects: ['user:robot$ci'] }, // 8
];
const GROUPS = { 'team-a': ['alice', 'carol'], 'team-b': ['bob', 'carol'] };

/** A robot's scopes, made as robots.ts makes them: names are repository patterns. */
function robotScopes(...texts: string[]): TokenAccess[] {
  return texts.map((text) => {
    const parsed = parseRobotScope(text);
    assert.ok('access' in parsed, text);
    return parsed.access;
  });
}

/** Who asks, in the columns of TABLE. */
const IDENTITIES = {
  anonymous: { user: null, groups: [], via: 'anonymous' },
  alice: { user: 'alice', groups: ['team-a'], via: 'htpasswd' },
  bob: { user: 'bob', groups: ['team-b'], via: 'htpasswd' },
  carol: { user: 'carol', groups: ['team-a', 'team-b'], via: 'htpasswd' },
  dave: { user: 'dave', groups: [], via: 'htpasswd' },
  reader: { user: 'reader', groups: [], via: 'htpasswd' },
  admin: { user: 'admin', groups: [], via: 'htpasswd' },
  // A robot may pull public/** and pull and push team-b/* (one component): its scopes, not the rules, stop a delete.
  robot: {
    user: 'robot$ci',
    groups: [],
    via: 'robot',
    tokenAccess: robotScopes('repository:public/**:pull', 'repository:team-b/*:pull,push'),
  },
  // Carol's bearer token: names in a token are literal, so `team-b/*` names only a repository called that.
  token: {
    user: 'carol',
    groups: ['team-a', 'team-b'],
    via: 'token',
    tokenAccess: [
      { type: 'repository', name: 'team-b/app', actions: ['pull'] },
      { type: 'repository', name: 'release/app', actions: ['pull', 'push'] },
      { type: 'repository', name: 'team-b/*', actions: ['*'] },
    ],
  },
  // A token that grants nothing at all.
  empty: { user: 'carol', groups: ['team-a', 'team-b'], via: 'token', tokenAccess: [] },
} satisfies Record<string, Identity>;
type Who = keyof typeof IDENTITIES;
const COLUMNS: readonly Who[] = ['anonymous', 'alice', 'bob', 'carol', 'dave', 'reader', 'admin', 'robot', 'token', 'empty'];

/**
 * identity × repository × action. Each cell is `pull push delete`: a number is the index of the rule
 * that allows it; `.` is refused by the rules (reason `policy`); `S` is allowed by the rules but not
 * by the caller's scopes (reason `scope`). A push or delete here names no tag, so protected tags do
 * not hold it (PROTECTED_TAGS below does).
 */
// prettier-ignore
const TABLE: Record<string, readonly string[]> = {
  //                  anonymous alice    bob      carol    dave     reader   admin    robot    token    empty
  'public/app':      ['0 . .', '0 . .', '0 . .', '0 . .', '0 . .', '0 . .', '0 . .', '0 . .', 'S . .', 'S . .'],
  'team-a/app':      ['. . .', '1 1 .', '. . .', '1 1 .', '. . .', '4 . .', '. . .', '. . .', 'S S .', 'S S .'],
  'team-a/x/y':      ['. . .', '1 1 .', '. . .', '1 1 .', '. . .', '4 . .', '. . .', '. . .', 'S S .', 'S S .'],
  'team-ab/app':     ['. . .', '. . .', '. . .', '. . .', '. . .', '. . .', '. . .', '. . .', '. . .', '. . .'],
  'team-b/app':      ['. . .', '. . .', '2 2 2', '2 2 2', '. . .', '. . .', '. . .', '8 8 S', '2 S S', 'S S S'],
  'team-b/x/y':      ['. . .', '. . .', '2 2 2', '2 2 2', '. . .', '. . .', '. . .', 'S S S', 'S S S', 'S S S'],
  'users/dave/app':  ['. . .', '. . .', '. . .', '. . .', '3 3 3', '. . .', '. . .', '. . .', '. . .', '. . .'],
  'users/alice/app': ['. . .', '3 3 3', '. . .', '. . .', '. . .', '. . .', '. . .', '. . .', '. . .', '. . .'],
  'shared/team-a':   ['. . .', '5 . .', '. . .', '5 . .', '. . .', '. . .', '. . .', '. . .', 'S . .', 'S . .'],
  'shared/team-b':   ['. . .', '. . .', '5 . .', '5 . .', '. . .', '. . .', '. . .', '. . .', 'S . .', 'S . .'],
  'release/app':     ['. . .', '6 6 6', '. . .', '6 6 6', '. . .', '. . .', '7 7 7', '. . .', '6 6 S', 'S S S'],
  'other/app':       ['. . .', '. . .', '. . .', '. . .', '. . .', '. . .', '. . .', '. . .', '. . .', '. . .'],
};
const TABLE_ACTIONS: readonly Action[] = ['pull', 'push', 'delete'];

/** The decision a TABLE cell stands for. */
function expectedDecision(cell: string): AccessDecision {
  if (cell === '.') return { allowed: false, ruleIndex: -1, reason: 'policy' };
  if (cell === 'S') return { allowed: false, ruleIndex: -1, reason: 'scope' };
  return { allowed: true, ruleIndex: Number(cell), reason: 'policy' };
}

function cell(who: Who, repository: string, action: Action): string {
  const row = TABLE[repository];
  assert.ok(row, `no row for ${repository}`);
  return (row[COLUMNS.indexOf(who)] ?? '').split(' ')[TABLE_ACTIONS.indexOf(action)] ?? '';
}

/**
 * The catalog: may the caller list it at all, may a token carry `registry:catalog:*`, and which of
 * TABLE's repositories it lists. Everybody may pull public/**, so everybody may list; scopes that
 * name repositories to pull list those; only `registry:catalog:*` in a robot's own scopes would let
 * its token carry the catalog scope (none here has it).
 */
const CATALOG: Record<Who, { lists: 'allow' | 'scope'; catalogScope: 'allow' | 'scope'; shows: readonly string[] }> = {
  anonymous: { lists: 'allow', catalogScope: 'allow', shows: ['public/app'] },
  alice: {
    lists: 'allow',
    catalogScope: 'allow',
    shows: ['public/app', 'release/app', 'shared/team-a', 'team-a/app', 'team-a/x/y', 'users/alice/app'],
  },
  bob: { lists: 'allow', catalogScope: 'allow', shows: ['public/app', 'shared/team-b', 'team-b/app', 'team-b/x/y'] },
  carol: {
    lists: 'allow',
    catalogScope: 'allow',
    shows: ['public/app', 'release/app', 'shared/team-a', 'shared/team-b', 'team-a/app', 'team-a/x/y', 'team-b/app', 'team-b/x/y'],
  },
  dave: { lists: 'allow', catalogScope: 'allow', shows: ['public/app', 'users/dave/app'] },
  reader: { lists: 'allow', catalogScope: 'allow', shows: ['public/app', 'team-a/app', 'team-a/x/y'] },
  admin: { lists: 'allow', catalogScope: 'allow', shows: ['public/app', 'release/app'] },
  robot: { lists: 'allow', catalogScope: 'scope', shows: ['public/app', 'team-b/app'] },
  token: { lists: 'allow', catalogScope: 'scope', shows: ['release/app', 'team-b/app'] },
  empty: { lists: 'scope', catalogScope: 'scope', shows: [] },
};

/**
 * Protected tags (rule 6 protects `v*` and `latest` on release/*; rule 7 grants admin overwrite),
 * with what the registry behind says: whether the push moves the tag, whether a protected tag uses
 * the blob. `asks` is what the probe must have been asked, in order: a rule that cannot be held by
 * the target, or grants overwrite, never asks.
 */
interface ProtectedRow {
  readonly who: Who;
  readonly action: 'push' | 'delete';
  readonly target: ManifestTarget;
  readonly moves?: boolean;
  readonly blobUsed?: boolean;
  readonly expected: AccessDecision;
  readonly asks: readonly ('tagMoves' | 'blobProtected')[];
}
const allowedBy = (ruleIndex: number, tagMustNotMove = false): AccessDecision =>
  tagMustNotMove ? { allowed: true, ruleIndex, reason: 'policy', tagMustNotMove: true } : { allowed: true, ruleIndex, reason: 'policy' };
const refusedFor = (reason: AccessDecision['reason']): AccessDecision => ({ allowed: false, ruleIndex: -1, reason });
const PROTECTED_TAGS: readonly ProtectedRow[] = [
  { who: 'alice', action: 'push', target: { tag: 'latest' }, moves: true, expected: refusedFor('protected-tag'), asks: ['tagMoves'] },
  { who: 'alice', action: 'push', target: { tag: 'v1' }, moves: false, expected: allowedBy(6, true), asks: ['tagMoves'] },
  { who: 'alice', action: 'push', target: { tag: 'dev' }, moves: true, expected: allowedBy(6), asks: [] },
  { who: 'alice', action: 'push', target: { digest: DIGEST }, expected: allowedBy(6), asks: [] },
  { who: 'alice', action: 'delete', target: { tag: 'v1' }, expected: refusedFor('protected-tag'), asks: [] },
  { who: 'alice', action: 'delete', target: { tag: 'dev' }, expected: allowedBy(6), asks: [] },
  { who: 'alice', action: 'delete', target: { digest: DIGEST }, expected: refusedFor('protected-tag'), asks: [] },
  {
    who: 'alice',
    action: 'delete',
    target: { blob: DIGEST },
    blobUsed: true,
    expected: refusedFor('protected-tag'),
    asks: ['blobProtected'],
  },
  { who: 'alice', action: 'delete', target: { blob: DIGEST }, blobUsed: false, expected: allowedBy(6), asks: ['blobProtected'] },
  { who: 'admin', action: 'push', target: { tag: 'latest' }, moves: true, expected: allowedBy(7), asks: [] },
  { who: 'admin', action: 'delete', target: { digest: DIGEST }, expected: allowedBy(7), asks: [] },
  { who: 'admin', action: 'delete', target: { blob: DIGEST }, blobUsed: true, expected: allowedBy(7), asks: [] },
  { who: 'bob', action: 'push', target: { tag: 'latest' }, moves: true, expected: refusedFor('policy'), asks: [] },
  // The rules are asked before the scopes: a refusal by both is the rules'.
  { who: 'token', action: 'push', target: { tag: 'latest' }, moves: true, expected: refusedFor('protected-tag'), asks: ['tagMoves'] },
  { who: 'token', action: 'push', target: { tag: 'v2' }, moves: false, expected: allowedBy(6, true), asks: ['tagMoves'] },
  { who: 'token', action: 'delete', target: { tag: 'dev' }, expected: refusedFor('scope'), asks: [] },
  { who: 'robot', action: 'push', target: { tag: 'latest' }, moves: true, expected: refusedFor('policy'), asks: [] },
];

describe('decision table: decide, with every answer written out', () => {
  const policy = new AccessPolicy(RULES);

  test('identity × repository × action: allowed by which rule, or refused by the rules or by scopes', () => {
    let checked = 0;
    for (const [repository, row] of Object.entries(TABLE)) {
      assert.equal(row.length, COLUMNS.length, repository);
      for (const who of COLUMNS) {
        for (const action of TABLE_ACTIONS) {
          const actual = decide(policy, IDENTITIES[who], { kind: 'repository', repository, action });
          assert.deepEqual(actual, expectedDecision(cell(who, repository, action)), `${who} ${action} ${repository}`);
          checked += 1;
        }
      }
    }
    assert.equal(checked, Object.keys(TABLE).length * COLUMNS.length * TABLE_ACTIONS.length);
  });

  test('the catalog: listing it, a token carrying registry:catalog:*, and which names it shows', () => {
    const refusal = refusedFor('scope');
    for (const who of COLUMNS) {
      const expected = CATALOG[who];
      const identity = IDENTITIES[who];
      assert.deepEqual(
        decide(policy, identity, { kind: 'catalog' }),
        expected.lists === 'allow' ? { ...refusal, allowed: true, reason: 'policy' } : refusal,
        `${who} lists`,
      );
      assert.deepEqual(
        decide(policy, identity, { kind: 'catalog-scope' }),
        expected.catalogScope === 'allow' ? { ...refusal, allowed: true, reason: 'policy' } : refusal,
        `${who} registry:catalog:*`,
      );
      const shown = Object.keys(TABLE)
        .filter((repository) => decide(policy, identity, { kind: 'catalog-entry', repository }).allowed)
        .sort();
      assert.deepEqual(shown, expected.shows, `${who} sees`);
    }
  });

  test('protected tags: which rule holds a push or delete, and what the registry behind is asked', async () => {
    for (const row of PROTECTED_TAGS) {
      const asked: string[] = [];
      const probe: ContentProbe = {
        tagMoves: () => {
          asked.push('tagMoves');
          return Promise.resolve(row.moves ?? assert.fail('tagMoves asked without a fact'));
        },
        blobProtected: () => {
          asked.push('blobProtected');
          return Promise.resolve(row.blobUsed ?? assert.fail('blobProtected asked without a fact'));
        },
      };
      const what = `${row.who} ${row.action} ${JSON.stringify(row.target)}${row.moves === undefined ? '' : row.moves ? ' (moves)' : ' (stays)'}`;
      const actual = await decide(policy, IDENTITIES[row.who], {
        kind: 'content',
        repository: 'release/app',
        action: row.action,
        target: row.target,
        probe,
      });
      assert.deepEqual(actual, row.expected, what);
      assert.deepEqual(asked, row.asks, `${what}: questions asked`);
    }
  });
});

interface Caller {
  readonly label: string;
  /** The TABLE column of this caller's identity. */
  readonly who: Who;
  /** Authorization header; undefined for anonymous. */
  readonly authorization: string | undefined;
  /** Wrong password: every request needing an identity is a 401. */
  readonly refused?: boolean;
}

const PASSWORDS: Record<string, string> = {
  alice: 'alice-pw-1',
  bob: 'bob-pw-2',
  carol: 'carol-pw-3',
  dave: 'dave-pw-4',
  reader: 'reader-pw-5',
  admin: 'admin-pw-6',
};

const CALLERS: Caller[] = [
  { label: 'anonymous', who: 'anonymous', authorization: undefined },
  ...Object.entries(PASSWORDS).map(([user, password]) => ({ label: user, who: user as Who, authorization: basic(user, password) })),
  { label: 'alice with a wrong password', who: 'alice', authorization: basic('alice', 'not-her-password'), refused: true },
];

/** The repositories the gateway is asked about (TABLE has one more, for scopes). */
const REPOSITORIES = [
  'public/app',
  'team-a/app',
  'team-a/x/y',
  'team-ab/app',
  'team-b/app',
  'users/dave/app',
  'users/alice/app',
  'shared/team-a',
  'shared/team-b',
  'release/app',
  'other/app',
];

/** Tags that exist upstream: the gateway asks (HEAD manifest) only when a protected tag is pushed. */
const EXISTING_TAGS = new Set(['latest', 'v1', 'dev']);

type Expectation = { kind: 'action'; action: Action; protectedTag?: 'held' | 'free' } | { kind: 'unsupported' };

interface Operation {
  readonly method: Dispatcher.HttpMethod;
  readonly path: (repository: string) => string;
  readonly needs: Expectation;
}

/**
 * A push or delete on release/* by a team-a member (rule 6, protecting `v*` and `latest`): `held`
 * when protected tags refuse it there (the table's push or delete is refused, reason protected-tag),
 * `free` when they do not. EXISTING_TAGS exist upstream and any pushed body differs from what they
 * name; the upstream (a proxy) cannot say which tags use a blob, so every blob counts as used.
 */
const push = (protectedTag?: 'held' | 'free'): Expectation => ({
  kind: 'action',
  action: 'push',
  ...(protectedTag ? { protectedTag } : {}),
});
const del = (protectedTag?: 'held' | 'free'): Expectation => ({
  kind: 'action',
  action: 'delete',
  ...(protectedTag ? { protectedTag } : {}),
});
const pull: Expectation = { kind: 'action', action: 'pull' };
const unsupported: Expectation = { kind: 'unsupported' };

/** From the distribution spec: reads are pull, writes and every upload step are push, deletes are delete. */
const OPERATIONS: Operation[] = [
  { method: 'GET', path: (r) => `/v2/${r}/manifests/latest`, needs: pull },
  { method: 'HEAD', path: (r) => `/v2/${r}/manifests/${DIGEST}`, needs: pull },
  { method: 'PUT', path: (r) => `/v2/${r}/manifests/latest`, needs: push('held') }, // exists: the push moves it
  { method: 'PUT', path: (r) => `/v2/${r}/manifests/v2`, needs: push('free') }, // does not exist yet
  { method: 'PUT', path: (r) => `/v2/${r}/manifests/dev`, needs: push('free') }, // not protected
  { method: 'PUT', path: (r) => `/v2/${r}/manifests/${DIGEST}`, needs: push('free') },
  { method: 'DELETE', path: (r) => `/v2/${r}/manifests/v1`, needs: del('held') },
  { method: 'DELETE', path: (r) => `/v2/${r}/manifests/${DIGEST}`, needs: del('held') }, // could remove protected tags
  { method: 'GET', path: (r) => `/v2/${r}/blobs/${DIGEST}`, needs: pull },
  { method: 'HEAD', path: (r) => `/v2/${r}/blobs/${DIGEST}`, needs: pull },
  { method: 'DELETE', path: (r) => `/v2/${r}/blobs/${DIGEST}`, needs: del('held') },
  { method: 'POST', path: (r) => `/v2/${r}/blobs/uploads/`, needs: push() },
  { method: 'GET', path: (r) => `/v2/${r}/blobs/uploads/${UPLOAD_ID}`, needs: push() },
  { method: 'PATCH', path: (r) => `/v2/${r}/blobs/uploads/${UPLOAD_ID}`, needs: push() },
  { method: 'PUT', path: (r) => `/v2/${r}/blobs/uploads/${UPLOAD_ID}?digest=${DIGEST}`, needs: push() },
  { method: 'DELETE', path: (r) => `/v2/${r}/blobs/uploads/${UPLOAD_ID}`, needs: push() },
  { method: 'GET', path: (r) => `/v2/${r}/tags/list`, needs: pull },
  { method: 'GET', path: (r) => `/v2/${r}/referrers/${DIGEST}`, needs: pull },
  { method: 'POST', path: (r) => `/v2/${r}/manifests/latest`, needs: unsupported },
  { method: 'PUT', path: (r) => `/v2/${r}/blobs/${DIGEST}`, needs: unsupported },
  { method: 'PATCH', path: (r) => `/v2/${r}/manifests/latest`, needs: unsupported },
  { method: 'DELETE', path: (r) => `/v2/${r}/tags/list`, needs: unsupported },
];

/** Every caller gets a pull and a push on every repository; the rest of the product is sampled with a fixed seed. */
const ALWAYS = new Set([0, 11]);
const SAMPLED_SHARE = 0.12;

function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

interface Case {
  readonly caller: Caller;
  readonly repository: string;
  readonly operation: Operation;
}

function cases(): Case[] {
  const random = seededRandom(20240605);
  const out: Case[] = [];
  for (const caller of CALLERS) {
    for (const repository of REPOSITORIES) {
      OPERATIONS.forEach((operation, index) => {
        if (ALWAYS.has(index) || random() < SAMPLED_SHARE) out.push({ caller, repository, operation });
      });
    }
  }
  return out;
}

/** The fake upstream: yes to everything; HEAD of a manifest tag says whether the tag exists. */
function upstreamAnswer(captured: CapturedRequest): CannedResponse {
  const headers = { 'Docker-Distribution-Api-Version': 'registry/2.0', 'Content-Type': 'application/json' };
  const path = captured.url.split('?')[0] ?? '';
  if (path === '/v2/_catalog') {
    const last = new URLSearchParams(captured.url.split('?')[1] ?? '').get('last');
    const repositories = [...REPOSITORIES].sort().filter((name) => last === null || name > last);
    return { status: 200, headers, body: JSON.stringify({ repositories }) };
  }
  const manifestTag = /\/manifests\/([^/]+)$/.exec(path)?.[1];
  if (captured.method === 'HEAD' && manifestTag !== undefined && !manifestTag.includes(':')) {
    // An existing tag points at a manifest other than any body the table pushes, so a push moves it.
    return EXISTING_TAGS.has(manifestTag)
      ? { status: 200, headers: { ...headers, 'Docker-Content-Digest': `sha256:${'e'.repeat(64)}` } }
      : { status: 404, headers };
  }
  const status = captured.method === 'GET' || captured.method === 'HEAD' ? 200 : 202;
  return { status, headers, body: JSON.stringify({ upstream: true }) };
}

/** What the gateway forwarded (it adds X-Forwarded-For), as opposed to its own HEAD asking whether a tag exists. */
function forwarded(requests: readonly CapturedRequest[]): CapturedRequest[] {
  return requests.filter((captured) => captured.headers['x-forwarded-for'] !== undefined);
}

describe('decision table: the gateway decides as the table says', () => {
  let dir: string;
  let capture: HeaderCapture;
  let gate: TestGate;

  before(async () => {
    dir = await makeTempDir('rg-decision-table-');
    capture = await startHeaderCapture({ respond: upstreamAnswer });
    gate = await startGate({
      dir,
      users: PASSWORDS,
      bcryptCost: 4,
      config: {
        upstream: { url: capture.url, auth: 'none' },
        groups: GROUPS,
        access: RULES,
        auth: { realm: REALM, throttle: { enabled: false } },
      },
    });
  });

  after(async () => {
    await gate.stop();
    await capture.stop();
    await removeDir(dir);
  });

  async function send(caller: Caller, method: Dispatcher.HttpMethod, path: string) {
    const headers: Record<string, string> = {};
    if (caller.authorization) headers.authorization = caller.authorization;
    if (method === 'PUT' && path.includes('/manifests/')) headers['content-type'] = 'application/vnd.oci.image.manifest.v1+json';
    const hasBody = method === 'PUT' || method === 'PATCH' || method === 'POST';
    const response = await request(`${gate.url}${path}`, {
      method,
      headers,
      dispatcher: gate.dispatcher,
      ...(hasBody ? { body: method === 'POST' ? '' : '{"x":1}' } : {}),
    });
    const body = await response.body.text();
    return { status: response.statusCode, headers: response.headers, body };
  }

  function assertDenial(
    caller: Caller,
    reply: { status: number; headers: Record<string, unknown>; body: string },
    method: string,
    what: string,
  ): void {
    const anonymous = IDENTITIES[caller.who].user === null || caller.refused === true;
    assert.equal(reply.status, anonymous ? 401 : 403, `${what}: expected ${anonymous ? 401 : 403}, got ${reply.status} ${reply.body}`);
    if (anonymous) assert.equal(reply.headers['www-authenticate'], `Basic realm="${REALM}"`, what);
    else assert.equal(reply.headers['www-authenticate'], undefined, `${what}: a 403 carries no challenge`);
    if (method !== 'HEAD')
      assert.equal(
        (JSON.parse(reply.body) as { errors: Array<{ code: string }> }).errors[0]?.code,
        anonymous ? 'UNAUTHORIZED' : 'DENIED',
        what,
      );
  }

  test('every sampled (caller, method, path) is decided as the table says', async () => {
    const all = cases();
    assert.ok(all.length >= 200 && all.length <= 450, `a few hundred cases, not ${all.length}`);
    const tally = { allowed: 0, denied: 0, unsupported: 0 };
    for (const { caller, repository, operation } of all) {
      const path = operation.path(repository);
      const what = `${caller.label} ${operation.method} ${path}`;
      capture.clear();
      const reply = await send(caller, operation.method, path);
      assert.equal(reply.headers['docker-distribution-api-version'], 'registry/2.0', `${what}: API version header`);

      if (operation.needs.kind === 'unsupported') {
        tally.unsupported += 1;
        assert.equal(reply.status, 405, `${what}: ${reply.body}`);
        assert.deepEqual(forwarded(capture.requests), [], `${what}: must not reach the upstream`);
        continue;
      }
      const { action, protectedTag } = operation.needs;
      // Rule 6 is a team-a member's only rule on release/*: where its protected tags hold, nothing grants.
      const held =
        protectedTag === 'held' && repository.startsWith('release/') && (IDENTITIES[caller.who] as Identity).groups.includes('team-a');
      const allowed = !held && expectedDecision(cell(caller.who, repository, action)).allowed && caller.refused !== true;
      const reached = forwarded(capture.requests);
      if (allowed) {
        tally.allowed += 1;
        assert.equal(reached.length, 1, `${what}: allowed, so it must reach the upstream once (reply ${reply.status} ${reply.body})`);
        const [arrived] = reached;
        assert.ok(arrived, what);
        assert.equal(arrived.method, operation.method, what);
        assert.equal(arrived.url, path, `${what}: forwarded byte for byte`);
        assert.equal(arrived.headers.authorization, undefined, `${what}: credentials never travel upstream`);
        assert.equal(reply.status, upstreamAnswer(arrived).status, `${what}: the upstream's answer is passed back`);
      } else {
        tally.denied += 1;
        assert.deepEqual(reached, [], `${what}: denied, so nothing may reach the upstream`);
        assertDenial(caller, reply, operation.method, what);
      }
    }
    // The sample must exercise both outcomes for a meaningful share of cases.
    assert.ok(tally.allowed >= 40 && tally.denied >= 100 && tally.unsupported >= 5, JSON.stringify(tally));
  });

  test('protected tags: the gateway asks the upstream whether the tag exists only when a rule needs to know', async () => {
    const alice = CALLERS.find((caller) => caller.label === 'alice')!;
    const admin = CALLERS.find((caller) => caller.label === 'admin')!;
    const probes = () =>
      capture.requests.filter((captured) => captured.headers['x-forwarded-for'] === undefined && captured.method === 'HEAD');

    capture.clear();
    const move = await send(alice, 'PUT', '/v2/release/app/manifests/v1');
    assert.equal(move.status, 403, 'moving an existing protected tag without overwrite');
    assert.deepEqual(
      probes().map((captured) => captured.url),
      ['/v2/release/app/manifests/v1'],
    );

    capture.clear();
    const create = await send(alice, 'PUT', '/v2/release/app/manifests/v9');
    assert.equal(create.status, 202, 'creating a protected tag');
    assert.deepEqual(
      probes().map((captured) => captured.url),
      ['/v2/release/app/manifests/v9'],
    );

    capture.clear();
    assert.equal((await send(alice, 'PUT', '/v2/release/app/manifests/dev')).status, 202, 'an unprotected tag moves freely');
    assert.deepEqual(probes(), [], 'no existence check for an unprotected tag');

    capture.clear();
    assert.equal((await send(admin, 'PUT', '/v2/release/app/manifests/v1')).status, 202, 'overwrite granted');
    assert.deepEqual(probes(), [], 'no existence check when the rule grants overwrite');
  });

  test('catalog and base: filtered by pull, refused to callers who may never pull', async () => {
    for (const caller of CALLERS) {
      const what = `${caller.label} GET /v2/_catalog`;
      capture.clear();
      const reply = await send(caller, 'GET', '/v2/_catalog');
      assert.equal(reply.headers['docker-distribution-api-version'], 'registry/2.0', what);
      if (caller.refused || CATALOG[caller.who].lists !== 'allow') {
        assertDenial(caller, reply, 'GET', what);
        assert.deepEqual(forwarded(capture.requests), [], what);
        continue;
      }
      assert.equal(reply.status, 200, `${what}: ${reply.body}`);
      const expected = CATALOG[caller.who].shows.filter((name) => REPOSITORIES.includes(name));
      assert.deepEqual((JSON.parse(reply.body) as { repositories: string[] }).repositories, expected, what);

      const base = await send(caller, 'GET', '/v2/');
      if (IDENTITIES[caller.who].user === null) {
        // An anonymous caller is challenged on /v2/ so that clients with credentials send them;
        // one that answers with empty credentials (`Basic Og==`) has nothing more to send.
        assert.equal(base.status, 401, `${caller.label} GET /v2/ without Authorization`);
        assert.match(String(base.headers['www-authenticate']), /^Basic /);
        const empty = await request(`${gate.url}/v2/`, { headers: { authorization: 'Basic Og==' } });
        await empty.body.dump();
        assert.equal(empty.statusCode, 200, `${caller.label} GET /v2/ with empty credentials`);
      } else {
        assert.equal(base.status, 200, `${caller.label} GET /v2/`);
      }
    }
    const refused = CALLERS.find((caller) => caller.refused)!;
    const base = await send(refused, 'GET', '/v2/');
    assertDenial(refused, base, 'GET', 'wrong password GET /v2/');
  });
});

describe('placeholders in repository patterns', () => {
  const alice: Identity = { user: 'alice', groups: ['web'], via: 'htpasswd' };

  test('${user} followed by more text in the same component matches the caller however the rest is spelled', () => {
    const policy = new AccessPolicy([{ repository: 'home/${user}-*', actions: ['pull'], subjects: ['authenticated'] }]);
    assert.ok(policy.decide(alice, 'home/alice-dev', 'pull').allowed);
    assert.ok(!policy.decide(alice, 'home/bob-dev', 'pull').allowed);
    assert.ok(!policy.decide(alice, 'home/bob-alice-dev', 'pull').allowed);
    // `${user}` = alice, `*` = dev-x: the pattern matches, but the placeholder's greedy capture takes "alice-dev".
    assert.ok(policy.decide(alice, 'home/alice-dev-x', 'pull').allowed, 'home/${user}-* must match home/alice-dev-x for alice');
  });

  test("${group} followed by more text in the same component matches the caller's group", () => {
    const policy = new AccessPolicy([{ repository: 'teams/${group}-*/**', actions: ['push'], subjects: ['authenticated'] }]);
    assert.ok(policy.decide(alice, 'teams/web-api/app', 'push').allowed);
    assert.ok(
      policy.decide(alice, 'teams/web-api-v2/app', 'push').allowed,
      'teams/${group}-*/** must match teams/web-api-v2/app for group web',
    );
  });
});
