/**
 * Identity from a trusted SSO proxy: `auth.trustedHeader: { user: X-Forwarded-User, groups:
 * X-Forwarded-Groups }`, honoured only from `trustedProxies`, in front of a header-capturing upstream
 * that records exactly what reaches it.
 *
 * The attack: anyone who can reach the gateway directly sends `X-Forwarded-User: admin` (and
 * `X-Forwarded-Groups: pushers`) and is taken for that user. From a peer outside trustedProxies the
 * headers must be ignored (the caller stays anonymous, or whoever its Basic credentials say), and
 * they must never travel upstream, where another component might believe them. A group header
 * alone, without the user header, grants nothing; a user header that arrives twice (joined by a
 * comma) or holds a comma is refused rather than read as either name.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request, type Dispatcher } from 'undici';
import { startHeaderCapture, type HeaderCapture } from '../helpers/header-capture.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { startGate, basic, type TestGate } from '../helpers/gate.js';
import { pollUntil } from '../helpers/wait.js';

const BOB = { user: 'bob', password: 'bob-secret-1' };
const SSO_HEADER = { user: 'X-Forwarded-User', groups: 'X-Forwarded-Groups' };
const ACCESS = [
  { repository: '**', actions: ['pull'], subjects: ['authenticated'] },
  { repository: '**', actions: ['pull', 'push', 'delete'], subjects: ['group:pushers'] },
];
/** A monolithic blob push: a state change, so it is audited. */
const PUSH_PATH = `/v2/team/app/blobs/uploads/?digest=sha256:${'0'.repeat(64)}`;
const PULL_PATH = '/v2/team/app/manifests/latest';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

async function call(
  gate: TestGate,
  path: string,
  headers: Record<string, string | string[]>,
  method: Dispatcher.HttpMethod = 'GET',
): Promise<Reply> {
  const response = await request(`${gate.url}${path}`, { method, dispatcher: gate.dispatcher, headers });
  return { status: response.statusCode, headers: response.headers, body: await response.body.text() };
}

function errorCode(reply: Reply): string | undefined {
  return (JSON.parse(reply.body) as { errors: Array<{ code: string }> }).errors[0]?.code;
}

function assertNoSsoHeadersUpstream(capture: HeaderCapture): void {
  assert.ok(capture.requests.length > 0, 'the request should have reached the upstream');
  for (const seen of capture.requests) {
    const names = seen.rawHeaders.map(([name]) => name.toLowerCase());
    assert.ok(!names.includes('x-forwarded-user'), `X-Forwarded-User was forwarded on ${seen.method} ${seen.url}`);
    assert.ok(!names.includes('x-forwarded-groups'), `X-Forwarded-Groups was forwarded on ${seen.method} ${seen.url}`);
  }
}

describe('SSO headers from a trusted proxy', () => {
  let dir: string;
  let capture: HeaderCapture;
  let gate: TestGate;
  let auditFile: string;

  before(async () => {
    dir = await makeTempDir('rg-sso-trusted-');
    capture = await startHeaderCapture();
    auditFile = join(dir, 'audit.jsonl');
    gate = await startGate({
      dir,
      users: { [BOB.user]: BOB.password },
      config: {
        upstream: { url: capture.url, auth: 'none' },
        trustedProxies: ['127.0.0.0/8'],
        auth: { trustedHeader: SSO_HEADER },
        access: ACCESS,
        audit: { enabled: true, file: auditFile },
      },
    });
  });

  after(async () => {
    await gate.stop();
    await capture.stop();
    if (dir) await removeDir(dir);
  });

  test('the user and groups headers authenticate without Authorization: a pusher reaches the upstream', async () => {
    const sso = { 'x-forwarded-user': 'alice', 'x-forwarded-groups': 'pushers' };
    const root = await call(gate, '/v2/', sso);
    assert.equal(root.status, 200, root.body);

    capture.clear();
    const push = await call(gate, PUSH_PATH, sso, 'POST');
    assert.equal(push.status, 404, 'the upstream’s own answer (it does not implement uploads)');
    assert.equal(capture.requests.length, 1);
    assert.equal(capture.requests[0]?.method, 'POST');
    assert.equal(capture.requests[0].url, PUSH_PATH);
    assertNoSsoHeadersUpstream(capture);
  });

  test('the groups header decides group rules: a non-pusher is refused the push and may pull', async () => {
    capture.clear();
    const push = await call(gate, PUSH_PATH, { 'x-forwarded-user': 'carol', 'x-forwarded-groups': 'readers, ops' }, 'POST');
    assert.equal(push.status, 403, push.body);
    assert.equal(errorCode(push), 'DENIED');
    assert.equal(capture.requests.length, 0, 'a refused request never reaches the upstream');

    const pull = await call(gate, PULL_PATH, { 'x-forwarded-user': 'carol' });
    assert.equal(pull.status, 404, 'forwarded; the upstream knows no manifest');
    assertNoSsoHeadersUpstream(capture);
  });

  test('a groups header without a user header grants nothing to Basic credentials', async () => {
    capture.clear();
    const push = await call(gate, PUSH_PATH, { authorization: basic(BOB.user, BOB.password), 'x-forwarded-groups': 'pushers' }, 'POST');
    assert.equal(push.status, 403, push.body);
    assert.equal(capture.requests.length, 0);
    const anonymous = await call(gate, PULL_PATH, { 'x-forwarded-groups': 'pushers' });
    assert.equal(anonymous.status, 401);
  });

  test('a comma in the user header (two copies arrive joined by one) is refused', async () => {
    capture.clear();
    const cases: Array<Record<string, string | string[]>> = [
      { 'x-forwarded-user': 'alice,mallory', 'x-forwarded-groups': 'pushers' },
      { 'x-forwarded-user': 'alice, alice', 'x-forwarded-groups': 'pushers' },
      { 'x-forwarded-user': ['alice', 'mallory'], 'x-forwarded-groups': 'pushers' },
      { 'x-forwarded-user': ['alice', 'alice'], 'x-forwarded-groups': 'pushers' },
      { 'x-forwarded-user': '', 'x-forwarded-groups': 'pushers' },
    ];
    for (const headers of cases) {
      for (const [path, method] of [
        ['/v2/', 'GET'],
        [PUSH_PATH, 'POST'],
      ] as const) {
        const reply = await call(gate, path, headers, method);
        assert.equal(reply.status, 401, `${JSON.stringify(headers)} ${method} ${path}: ${reply.body}`);
        assert.equal(reply.headers['www-authenticate'], 'Basic realm="Registry realm"');
      }
    }
    assert.equal(capture.requests.length, 0);
  });

  test('the SSO identity shows in the audit trail', async () => {
    const records = await pollUntil(
      async () =>
        (await readFile(auditFile, 'utf8').catch(() => ''))
          .split('\n')
          .filter((line) => line.trim() !== '')
          .map((line) => JSON.parse(line) as Record<string, unknown>),
      (lines) => lines.length >= 2,
    );
    const allowed = records.find((record) => record.user === 'alice' && record.decision === 'allow');
    assert.ok(allowed, `no allow record for alice in ${JSON.stringify(records)}`);
    assert.equal(allowed.via, 'header');
    assert.deepEqual(allowed.groups, ['pushers']);
    assert.equal(allowed.action, 'push');
    assert.equal(allowed.repository, 'team/app');
    const denied = records.find((record) => record.user === 'carol' && record.decision === 'deny');
    assert.ok(denied, `no deny record for carol in ${JSON.stringify(records)}`);
    assert.equal(denied.via, 'header');
    assert.deepEqual(denied.groups, ['readers', 'ops']);
    assert.equal(denied.status, 403);
  });
});

describe('SSO headers from an untrusted peer', () => {
  let dir: string;
  let capture: HeaderCapture;
  let gate: TestGate;

  before(async () => {
    dir = await makeTempDir('rg-sso-untrusted-');
    capture = await startHeaderCapture();
    gate = await startGate({
      dir,
      users: { [BOB.user]: BOB.password },
      config: {
        upstream: { url: capture.url, auth: 'none' },
        // 127.0.0.1, where the test connects from, is not in it.
        trustedProxies: ['10.0.0.0/8'],
        auth: { trustedHeader: SSO_HEADER },
        access: ACCESS,
      },
    });
  });

  after(async () => {
    await gate.stop();
    await capture.stop();
    if (dir) await removeDir(dir);
  });

  const spoofed = { 'x-forwarded-user': 'alice', 'x-forwarded-groups': 'pushers' };

  test('the headers are ignored: the caller stays anonymous and gets the 401 challenge', async () => {
    capture.clear();
    for (const [path, method] of [
      ['/v2/', 'GET'],
      [PULL_PATH, 'GET'],
      [PUSH_PATH, 'POST'],
    ] as const) {
      const reply = await call(gate, path, spoofed, method);
      assert.equal(reply.status, 401, `${method} ${path}: ${reply.body}`);
      assert.equal(reply.headers['www-authenticate'], 'Basic realm="Registry realm"');
      assert.equal(errorCode(reply), 'UNAUTHORIZED');
    }
    assert.equal(capture.requests.length, 0);
  });

  test('with Basic credentials, the caller is who they say, not who the headers say, and the headers are not forwarded', async () => {
    capture.clear();
    const headers = { ...spoofed, authorization: basic(BOB.user, BOB.password) };
    const push = await call(gate, PUSH_PATH, headers, 'POST');
    assert.equal(push.status, 403, 'bob is no pusher, whatever the headers claim');
    assert.equal(errorCode(push), 'DENIED');
    assert.equal(capture.requests.length, 0);

    const pull = await call(gate, PULL_PATH, headers);
    assert.equal(pull.status, 404, 'forwarded as bob; the upstream knows no manifest');
    assert.equal(capture.requests.length, 1);
    assertNoSsoHeadersUpstream(capture);
  });
});
