/**
 * The decision table: many (identity, method, path) combinations sent through the whole gateway,
 * each checked against the rules evaluated directly with AccessPolicy. The upstream is a recorder
 * that says yes to everything, so an allowed request must arrive there exactly as sent (and its
 * answer come back), and a denied one must never arrive: 401 with the Basic challenge for an
 * anonymous caller, 403 DENIED for an authenticated one. Which action a method+path needs is
 * written out here independently of src/gateway/actions.ts, from the distribution spec.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request, type Dispatcher } from 'undici';
import { AccessPolicy, type Action } from '../../src/access/policy.js';
import type { AccessRuleConfig } from '../../src/config/schema.js';
import type { Identity } from '../../src/auth/identity.js';
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
];
const GROUPS = { 'team-a': ['alice', 'carol'], 'team-b': ['bob', 'carol'] };

interface Caller {
  readonly label: string;
  readonly identity: Identity;
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

function member(user: string): Identity {
  const groups = Object.entries(GROUPS)
    .filter(([, members]) => members.includes(user))
    .map(([group]) => group);
  return { user, groups, via: 'htpasswd' };
}

const CALLERS: Caller[] = [
  { label: 'anonymous', identity: { user: null, groups: [], via: 'anonymous' }, authorization: undefined },
  ...Object.entries(PASSWORDS).map(([user, password]) => ({ label: user, identity: member(user), authorization: basic(user, password) })),
  { label: 'alice with a wrong password', identity: member('alice'), authorization: basic('alice', 'not-her-password'), refused: true },
];

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

type Expectation = { kind: 'action'; action: Action; manifestTarget?: { tag?: string; digest?: string } } | { kind: 'unsupported' };

interface Operation {
  readonly method: Dispatcher.HttpMethod;
  readonly path: (repository: string) => string;
  readonly needs: Expectation;
}

const push = (manifestTarget?: { tag?: string; digest?: string }): Expectation => ({
  kind: 'action',
  action: 'push',
  ...(manifestTarget ? { manifestTarget } : {}),
});
const del = (manifestTarget?: { tag?: string; digest?: string }): Expectation => ({
  kind: 'action',
  action: 'delete',
  ...(manifestTarget ? { manifestTarget } : {}),
});
const pull: Expectation = { kind: 'action', action: 'pull' };
const unsupported: Expectation = { kind: 'unsupported' };

/** From the distribution spec: reads are pull, writes and every upload step are push, deletes are delete. */
const OPERATIONS: Operation[] = [
  { method: 'GET', path: (r) => `/v2/${r}/manifests/latest`, needs: pull },
  { method: 'HEAD', path: (r) => `/v2/${r}/manifests/${DIGEST}`, needs: pull },
  { method: 'PUT', path: (r) => `/v2/${r}/manifests/latest`, needs: push({ tag: 'latest' }) },
  { method: 'PUT', path: (r) => `/v2/${r}/manifests/v2`, needs: push({ tag: 'v2' }) },
  { method: 'PUT', path: (r) => `/v2/${r}/manifests/dev`, needs: push({ tag: 'dev' }) },
  { method: 'PUT', path: (r) => `/v2/${r}/manifests/${DIGEST}`, needs: push({ digest: DIGEST }) },
  { method: 'DELETE', path: (r) => `/v2/${r}/manifests/v1`, needs: del({ tag: 'v1' }) },
  { method: 'DELETE', path: (r) => `/v2/${r}/manifests/${DIGEST}`, needs: del({ digest: DIGEST }) },
  { method: 'GET', path: (r) => `/v2/${r}/blobs/${DIGEST}`, needs: pull },
  { method: 'HEAD', path: (r) => `/v2/${r}/blobs/${DIGEST}`, needs: pull },
  { method: 'DELETE', path: (r) => `/v2/${r}/blobs/${DIGEST}`, needs: del() },
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

describe('decision table: the gateway agrees with AccessPolicy', () => {
  const policy = new AccessPolicy(RULES);
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
    await gate?.stop();
    await capture?.stop();
    if (dir) await removeDir(dir);
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
    const anonymous = caller.identity.user === null || caller.refused === true;
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

  test('every sampled (caller, method, path) is decided as AccessPolicy decides it', async () => {
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
      const { action, manifestTarget } = operation.needs;
      const decision = manifestTarget
        ? await policy.decideManifest(
            caller.identity,
            repository,
            action,
            manifestTarget,
            async () => manifestTarget.tag !== undefined && EXISTING_TAGS.has(manifestTarget.tag),
          )
        : policy.decide(caller.identity, repository, action);
      const allowed = decision.allowed && caller.refused !== true;
      const reached = forwarded(capture.requests);
      if (allowed) {
        tally.allowed += 1;
        assert.equal(reached.length, 1, `${what}: allowed, so it must reach the upstream once (reply ${reply.status} ${reply.body})`);
        assert.equal(reached[0]?.method, operation.method, what);
        assert.equal(reached[0]?.url, path, `${what}: forwarded byte for byte`);
        assert.equal(reached[0]?.headers.authorization, undefined, `${what}: credentials never travel upstream`);
        assert.equal(reply.status, upstreamAnswer(reached[0]!).status, `${what}: the upstream's answer is passed back`);
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
      if (caller.refused || !policy.mayEver(caller.identity, 'pull')) {
        assertDenial(caller, reply, 'GET', what);
        assert.deepEqual(forwarded(capture.requests), [], what);
        continue;
      }
      assert.equal(reply.status, 200, `${what}: ${reply.body}`);
      const expected = [...REPOSITORIES].sort().filter((name) => policy.decide(caller.identity, name, 'pull').allowed);
      assert.deepEqual((JSON.parse(reply.body) as { repositories: string[] }).repositories, expected, what);

      const base = await send(caller, 'GET', '/v2/');
      if (caller.identity.user === null) {
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
