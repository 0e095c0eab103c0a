/**
 * Hostile request targets. The attack: make the gateway authorize one repository while the
 * registry behind it acts on another — an encoded slash or dot that the registry decodes, dot
 * segments or empty segments it cleans up, a backslash some stack treats as a separator, a NUL
 * that truncates, an absolute-form target whose host part is dropped, a name too long for the
 * registry, or a POST whose mount parameters hide in a form body that Go's net/http reads as query
 * parameters.
 *
 * Every such request is sent on a raw socket (no client library normalizes it) as alice, who may
 * pull and push team-a/** and nothing in team-b/**. Three setups: a recording upstream that says
 * yes to everything (so anything that reached it would be seen, and succeed), the built-in
 * registry, and Distribution 2.8 behind the gateway (both holding a real team-b/secret). Each
 * request must be refused with OCI error JSON, the right status and exactly one API version header,
 * and nothing may reach the upstream.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startGate, basic, type TestGate } from '../helpers/gate.js';
import { startHeaderCapture, type HeaderCapture } from '../helpers/header-capture.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { RegistryClient } from '../helpers/registry-client.js';
import { ociErrorCode, rawExchange, startBackend, type BackendUnderTest, type RawReply } from '../helpers/access-http.js';

const PASSWORDS = { alice: 'alice-pw-1', bob: 'bob-pw-2' };
const ALICE = basic('alice', PASSWORDS.alice);
const GROUPS = { 'team-a': ['alice'], 'team-b': ['bob'] };
const RULES = [
  { repository: 'team-a/**', actions: ['pull', 'push'], subjects: ['group:team-a'] },
  { repository: 'team-b/**', actions: ['pull', 'push'], subjects: ['group:team-b'] },
];
const DIGEST = `sha256:${'cd'.repeat(32)}`;

/** A repository name under team-a/ of exactly `length` characters. */
function nameOfLength(length: number): string {
  return `team-a/${'a'.repeat(length - 'team-a/'.length)}`;
}

interface HostileCase {
  readonly name: string;
  /** The request target, sent as is. `HOST` is replaced with the gateway's host:port. */
  readonly target: string;
  readonly status: number;
  readonly code: string;
  readonly method?: string;
  /** Either refusal is right where two grammar rules both apply (e.g. a dot segment in an upload start). */
  readonly orElse?: { status: number; code: string };
}

const NOT_FOUND = { status: 404, code: 'NOT_FOUND' };
const NAME_INVALID = { status: 400, code: 'NAME_INVALID' };

const HOSTILE: HostileCase[] = [
  { name: 'encoded slashes %2F', target: '/v2/team-a%2F..%2Fteam-b%2Fsecret/manifests/latest', ...NOT_FOUND },
  { name: 'encoded slashes %2f', target: '/v2/team-a/app%2f..%2f..%2fteam-b%2fsecret/manifests/latest', ...NOT_FOUND },
  { name: 'an encoded slash inside the name', target: '/v2/team-b%2Fsecret/manifests/latest', ...NOT_FOUND },
  { name: 'an encoded slash in tags/list', target: '/v2/team-a/..%2F..%2Fteam-b/secret/tags/list', ...NOT_FOUND },
  { name: 'encoded dots %2e', target: '/v2/team-a/%2e%2e/team-b/secret/manifests/latest', ...NOT_FOUND },
  { name: 'encoded dots %2E', target: '/v2/team-a/%2E%2E/team-b/secret/manifests/latest', ...NOT_FOUND },
  { name: 'double-encoded dots', target: '/v2/team-a/%252e%252e/team-b/secret/manifests/latest', ...NOT_FOUND },
  { name: 'overlong UTF-8 dots', target: '/v2/team-a/%c0%ae%c0%ae/team-b/secret/manifests/latest', ...NOT_FOUND },
  { name: 'an encoded question mark', target: '/v2/team-a/app%3F/../../team-b/secret/manifests/latest', ...NOT_FOUND },
  { name: 'dot-dot segments', target: '/v2/team-a/../team-b/secret/manifests/latest', ...NOT_FOUND },
  { name: 'dot-dot segments after the name', target: '/v2/team-a/app/../../team-b/secret/manifests/latest', ...NOT_FOUND },
  { name: 'dot-dot in a blob path', target: `/v2/team-a/app/../../team-b/secret/blobs/${DIGEST}`, ...NOT_FOUND },
  { name: 'dot-dot as the reference', target: '/v2/team-a/app/manifests/..', ...NOT_FOUND },
  { name: 'a dot segment', target: '/v2/team-a/./app/manifests/latest', ...NOT_FOUND },
  { name: 'a leading empty segment', target: '/v2//team-b/secret/manifests/latest', ...NOT_FOUND },
  { name: 'an inner empty segment', target: '/v2/team-a//team-b/secret/manifests/latest', ...NOT_FOUND },
  { name: '//v2/', target: '//v2/team-b/secret/manifests/latest', ...NOT_FOUND },
  { name: '/v2/../v2/', target: '/v2/../v2/team-b/secret/manifests/latest', ...NOT_FOUND },
  { name: 'a name of 256 characters', target: `/v2/${nameOfLength(256)}/manifests/latest`, ...NAME_INVALID },
  { name: 'a name of 256 characters (tags/list)', target: `/v2/${nameOfLength(256)}/tags/list`, ...NAME_INVALID },
  { name: 'mixed case (first component)', target: '/v2/Team-A/app/manifests/latest', ...NAME_INVALID },
  { name: 'mixed case (second component)', target: '/v2/team-a/App/manifests/latest', ...NAME_INVALID },
  { name: 'mixed case that would fold onto team-b', target: '/v2/TEAM-B/secret/manifests/latest', ...NAME_INVALID },
  { name: 'a trailing slash after a manifest', target: '/v2/team-a/app/manifests/latest/', ...NOT_FOUND },
  { name: 'a trailing slash after tags/list', target: '/v2/team-b/secret/tags/list/', ...NOT_FOUND },
  { name: 'a trailing slash after a blob', target: `/v2/team-a/app/blobs/${DIGEST}/`, ...NOT_FOUND },
  { name: '%00 in the name', target: '/v2/team-a/app%00/../../team-b/secret/manifests/latest', ...NOT_FOUND },
  { name: '%00 in the reference', target: '/v2/team-a/app/manifests/latest%00', ...NOT_FOUND },
  { name: 'backslashes as separators', target: '/v2/team-a\\..\\team-b/secret/manifests/latest', ...NAME_INVALID },
  { name: 'a backslash inside the name', target: '/v2/team-b\\secret/manifests/latest', ...NAME_INVALID },
  { name: 'a semicolon path parameter', target: '/v2/team-a/app;/../../team-b/secret/manifests/latest', ...NOT_FOUND },
  { name: 'a semicolon inside the name', target: '/v2/team-b/secret;team-a/manifests/latest', ...NAME_INVALID },
  {
    name: 'a fragment with dot segments',
    target: '/v2/team-a/app/manifests/latest#/../../../../team-b/secret/manifests/latest',
    ...NOT_FOUND,
  },
  { name: 'an upload id with encoded traversal', target: '/v2/team-a/app/blobs/uploads/..%2F..%2F..%2F..%2Fteam-b%2Fsecret', ...NOT_FOUND },
  { name: 'absolute-form, another host', target: 'http://evil.example/v2/team-b/secret/manifests/latest', ...NOT_FOUND },
  { name: 'absolute-form, this host', target: 'http://HOST/v2/team-b/secret/manifests/latest', ...NOT_FOUND },
  { name: 'absolute-form, a repository alice may read', target: 'http://HOST/v2/team-a/app/manifests/latest', ...NOT_FOUND },
  { name: 'asterisk-form', target: '*', method: 'OPTIONS', ...NOT_FOUND },
  { name: 'a DELETE through dot-dot', target: '/v2/team-a/../team-b/secret/manifests/latest', method: 'DELETE', ...NOT_FOUND },
  { name: 'a PUT through encoded slashes', target: '/v2/team-a%2F..%2Fteam-b/secret/manifests/latest', method: 'PUT', ...NOT_FOUND },
  {
    name: 'an upload start through dot-dot',
    target: '/v2/team-a/../team-b/secret/blobs/uploads/',
    method: 'POST',
    ...NOT_FOUND,
    orElse: NAME_INVALID,
  },
  {
    name: 'an upload start through an empty segment',
    target: '/v2/team-a//blobs/uploads/',
    method: 'POST',
    ...NOT_FOUND,
    orElse: NAME_INVALID,
  },
  // Neither a tag nor a digest: no manifest has such a reference, in any repository (the OCI spec's 404 to a read).
  {
    name: 'a reference that is neither tag nor digest',
    target: '/v2/team-a/app/manifests/.INVALID_MANIFEST_NAME',
    status: 404,
    code: 'MANIFEST_UNKNOWN',
  },
  {
    name: 'such a reference in a repository alice may not read',
    target: '/v2/team-b/secret/manifests/.INVALID_MANIFEST_NAME',
    status: 404,
    code: 'MANIFEST_UNKNOWN',
  },
  { name: 'a PUT of such a reference', target: '/v2/team-a/app/manifests/.latest', method: 'PUT', status: 400, code: 'MANIFEST_INVALID' },
  {
    name: 'a DELETE of such a reference',
    target: '/v2/team-a/app/manifests/-latest',
    method: 'DELETE',
    status: 400,
    code: 'MANIFEST_INVALID',
  },
];

/** Targets Node's HTTP parser refuses before any handler runs. */
const UNPARSEABLE = [
  { name: 'a raw NUL byte', target: '/v2/team-a/app\u0000/../../team-b/secret/manifests/latest' },
  { name: 'a raw tab', target: '/v2/team-a/app\t/manifests/latest' },
  { name: 'raw UTF-8 (non-ASCII)', target: Buffer.from('/v2/team-a/äpp/manifests/latest', 'utf8').toString('latin1') },
  { name: 'a raw DEL', target: '/v2/team-a/app\u007f/manifests/latest' },
];

/** Form bodies: Go's net/http reads `mount` and `from` from them as if they were query parameters. */
const FORM_BODIES = [
  { name: 'urlencoded', contentType: 'application/x-www-form-urlencoded', body: `mount=${DIGEST}&from=team-b%2Fsecret` },
  {
    name: 'urlencoded, odd case, with charset',
    contentType: 'Application/X-WWW-Form-URLEncoded; charset=utf-8',
    body: `mount=${DIGEST}&from=team-b/secret`,
  },
  {
    name: 'multipart',
    contentType: 'multipart/form-data; boundary=xyz',
    body: `--xyz\r\nContent-Disposition: form-data; name="mount"\r\n\r\n${DIGEST}\r\n--xyz\r\nContent-Disposition: form-data; name="from"\r\n\r\nteam-b/secret\r\n--xyz--\r\n`,
  },
];

function assertOciError(reply: RawReply, status: number, code: string | undefined, what: string): void {
  assert.equal(reply.status, status, `${what}: expected ${status}, got ${reply.raw.slice(0, 300)}`);
  assert.equal(
    reply.headerCounts['docker-distribution-api-version'],
    1,
    `${what}: exactly one API version header\n${reply.raw.slice(0, 300)}`,
  );
  assert.equal(reply.headers['docker-distribution-api-version'], 'registry/2.0', what);
  const found = ociErrorCode(reply.body);
  assert.ok(found !== undefined, `${what}: OCI error JSON expected, got ${JSON.stringify(reply.body)}`);
  if (code !== undefined) assert.equal(found, code, `${what}: ${reply.body}`);
}

type Setup = { label: string; start(dir: string): Promise<{ gate: TestGate; capture?: HeaderCapture; stop: () => Promise<void> }> };

const SETUPS: Setup[] = [
  {
    label: 'a recording upstream that allows everything',
    async start(dir) {
      const capture = await startHeaderCapture({
        respond: (captured) => ({
          status: captured.method === 'POST' ? 202 : 200,
          headers: { 'Docker-Distribution-Api-Version': 'registry/2.0', 'Content-Type': 'application/json' },
          body: '{"leaked":true}',
        }),
      });
      const gate = await startGate({
        dir,
        users: PASSWORDS,
        bcryptCost: 4,
        config: { groups: GROUPS, access: RULES, upstream: { url: capture.url, auth: 'none' } },
      });
      return {
        gate,
        capture,
        stop: async () => {
          await gate.stop();
          await capture.stop();
        },
      };
    },
  },
  ...(['builtin', 'distribution'] as const).map((kind): Setup => ({
    label: kind === 'builtin' ? 'the built-in registry' : 'Distribution 2.8',
    async start(dir) {
      const backend: BackendUnderTest = await startBackend(kind, join(dir, 'distribution'));
      const gate = await startGate({
        dir: join(dir, 'gate'),
        users: PASSWORDS,
        bcryptCost: 4,
        config: { groups: GROUPS, access: RULES, ...backend.gateConfig },
      });
      return {
        gate,
        stop: async () => {
          await gate.stop();
          await backend.stop();
        },
      };
    },
  })),
];

for (const setup of SETUPS) {
  describe(`hostile paths (${setup.label})`, () => {
    let dir: string;
    let gate: TestGate;
    let capture: HeaderCapture | undefined;
    let stop: () => Promise<void>;
    let secretBlobs: string[] = [];

    const send = (target: string, method = 'GET', extra = '', body?: string) =>
      rawExchange(
        gate.url,
        `${method} ${target.replace('HOST', gate.host)} HTTP/1.1\r\nHost: ${gate.host}\r\nAuthorization: ${ALICE}${extra}`,
        body === undefined ? {} : { body },
      );

    before(async () => {
      dir = await makeTempDir('rg-hostile-');
      ({ gate, capture, stop } = await setup.start(dir));
      if (!capture) {
        const bob = new RegistryClient(() => ({ baseUrl: gate.url, dispatcher: gate.dispatcher, authHeader: basic('bob', PASSWORDS.bob) }));
        secretBlobs = (await bob.pushImage('team-b/secret', 'latest')).blobs;
        const alice = new RegistryClient(() => ({ baseUrl: gate.url, dispatcher: gate.dispatcher, authHeader: ALICE }));
        await alice.pushImage('team-a/app', 'latest');
      }
    });

    after(async () => {
      await stop();
      if (dir) await removeDir(dir);
    });

    for (const hostile of HOSTILE) {
      test(`${hostile.name}: ${hostile.status} ${hostile.code}, nothing reaches the upstream`, async () => {
        capture?.clear();
        const reply = await send(
          hostile.target,
          hostile.method,
          hostile.method === 'PUT' || hostile.method === 'POST' ? '\r\nContent-Length: 0' : '',
        );
        const expected = hostile.orElse && reply.status === hostile.orElse.status ? hostile.orElse : hostile;
        assertOciError(reply, expected.status, expected.code, `${hostile.method ?? 'GET'} ${JSON.stringify(hostile.target)}`);
        if (capture)
          assert.deepEqual(
            capture.requests.map((r) => `${r.method} ${r.url}`),
            [],
            'nothing may reach the upstream',
          );
      });
    }

    test('HEAD of a reference that is neither tag nor digest: 404 without a body, nothing reaches the upstream', async () => {
      capture?.clear();
      const reply = await send('/v2/team-a/app/manifests/.INVALID_MANIFEST_NAME', 'HEAD');
      assert.equal(reply.status, 404, reply.raw.slice(0, 300));
      assert.equal(reply.headerCounts['docker-distribution-api-version'], 1);
      assert.equal(reply.body, '');
      if (capture)
        assert.deepEqual(
          capture.requests.map((r) => `${r.method} ${r.url}`),
          [],
          'nothing may reach the upstream',
        );
    });

    for (const unparseable of UNPARSEABLE) {
      test(`${unparseable.name}: refused with 400, nothing reaches the upstream`, async () => {
        capture?.clear();
        const reply = await send(unparseable.target);
        assert.equal(reply.status, 400, reply.raw.slice(0, 200));
        if (capture) assert.deepEqual(capture.requests, [], 'nothing may reach the upstream');
      });
    }

    // The listener's concern, not the backend's: checked once.
    // The parser refuses these before any backend is involved: checked once, with the recording upstream.
    if (setup.label.startsWith('a recording'))
      test('requests the HTTP parser refuses still get OCI error JSON and the API version header', async () => {
        const reply = await send(UNPARSEABLE[0]!.target);
        assertOciError(reply, 400, undefined, 'raw NUL in the request target');
      });

    for (const form of FORM_BODIES) {
      test(`a form-encoded (${form.name}) upload start with mount/from is refused (400) and never reaches the upstream`, async () => {
        capture?.clear();
        const reply = await send(
          '/v2/team-a/app/blobs/uploads/',
          'POST',
          `\r\nContent-Type: ${form.contentType}\r\nContent-Length: ${Buffer.byteLength(form.body)}`,
          form.body,
        );
        assertOciError(reply, 400, 'BLOB_UPLOAD_INVALID', `form ${form.name}`);
        if (capture) assert.deepEqual(capture.requests, [], 'nothing may reach the upstream');
      });
    }

    test('a chunked form body is refused too', async () => {
      capture?.clear();
      const body = `from=team-b/secret&mount=${DIGEST}`;
      const chunked = `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;
      const reply = await send(
        '/v2/team-a/app/blobs/uploads/',
        'POST',
        '\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked',
        chunked,
      );
      assertOciError(reply, 400, 'BLOB_UPLOAD_INVALID', 'chunked form');
      if (capture) assert.deepEqual(capture.requests, []);
    });

    // Only a real registry stores blobs.
    if (!setup.label.startsWith('a recording'))
      test('no team-b blob became readable in team-a/app', async () => {
        const alice = new RegistryClient(() => ({ baseUrl: gate.url, dispatcher: gate.dispatcher, authHeader: ALICE }));
        for (const blob of secretBlobs) assert.equal((await alice.call('HEAD', `/v2/team-a/app/blobs/${blob}`)).status, 404, blob);
      });

    if (setup.label.startsWith('a recording')) {
      describe('what does reach the upstream is exactly what was authorized', () => {
        const forwarded = async (target: string, method = 'GET'): Promise<string[]> => {
          capture!.clear();
          const reply = await send(target, method, method === 'POST' ? '\r\nContent-Length: 0' : '');
          assert.ok(reply.status === 200 || reply.status === 202, `${target}: ${reply.raw.slice(0, 300)}`);
          return capture!.requests.map((r) => r.url);
        };

        test('a name of exactly 255 characters is forwarded byte for byte', async () => {
          const target = `/v2/${nameOfLength(255)}/manifests/latest`;
          assert.deepEqual(await forwarded(target), [target]);
        });

        test('dots and slashes in the query stay in the query', async () => {
          const target = '/v2/team-a/app/manifests/latest?x=/../../team-b/secret';
          assert.deepEqual(await forwarded(target), [target]);
        });

        test('mount parameters naming a repository alice may not pull are removed, however they are spelled', async () => {
          for (const query of [
            `mount=${DIGEST}&from=team-b/secret`,
            `mount=${DIGEST}&from=team-b%2Fsecret`,
            `mount=${DIGEST}&fr%6Fm=team-b/secret`,
            `mount=${DIGEST}&from=team-a/app&from=team-b/secret`,
            `mount=${DIGEST}&from=team-b/secret&from=team-a/app`,
            `mount=${DIGEST};from=team-b/secret`,
            `mount=${DIGEST}&from=team-a/../team-b/secret`,
          ]) {
            const [url] = await forwarded(`/v2/team-a/app/blobs/uploads/?${query}`, 'POST');
            assert.ok(url !== undefined, query);
            const sent = new URLSearchParams(url.split('?')[1] ?? '');
            assert.ok(!sent.has('from') && !sent.has('mount'), `${query} was forwarded as ${url}`);
            assert.ok(url.startsWith('/v2/team-a/app/blobs/uploads/'), url);
          }
        });

        test('a mount from a repository alice may pull is forwarded untouched', async () => {
          const target = `/v2/team-a/app/blobs/uploads/?mount=${DIGEST}&from=team-a/other`;
          assert.deepEqual(await forwarded(target, 'POST'), [target]);
        });
      });
    }
  });
}
