/**
 * Blob theft through a mount hidden in an upload start's body.
 *
 * The attack: alice may push team-a/** and read nothing of team-b/**. She starts an upload in
 * team-a/app and puts `mount=<digest of a team-b secret>&from=team-b/secret` in the request BODY,
 * as a form. The gateway checks the mount in the query string only, and refuses bodies it can
 * recognise as forms; but Distribution (Go) reads `mount` and `from` with `r.FormValue`, which
 * parses a form body too, and Go's `mime.ParseMediaType` folds Unicode case and trims Unicode space:
 * `applİcation/x-www-form-urlencoded` (U+0130), a leading no-break space, or `multİpart/form-data`
 * pass the gateway's check and are still forms to Go. Distribution then mounts the secret blob into
 * team-a/app, where alice reads it.
 *
 * What must hold, for every spelling, on both backends: the answer is 202 (a plain upload) or a 4xx,
 * and the secret blob is not readable in team-a/app, through the gateway or in the registry itself.
 * The gateway forwards an upload start without a body at all, and declares every upload body it
 * does forward as plain bytes, so no form reaches the registry.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { request } from 'undici';
import { basic, startGate, type TestGate } from '../helpers/gate.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { RegistryClient, randomBlob } from '../helpers/registry-client.js';
import { BACKEND_KINDS, rawExchange, startBackend, type BackendUnderTest } from '../helpers/access-http.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';

const PASSWORDS = { alice: 'alice-pw-1', bob: 'bob-pw-2' };
const GROUPS = { 'team-a': ['alice'], 'team-b': ['bob'] };
const RULES = [
  { repository: 'team-a/**', actions: ['pull', 'push'], subjects: ['group:team-a'] },
  { repository: 'team-b/**', actions: ['pull', 'push'], subjects: ['group:team-b'] },
];

/** A header value as the raw bytes of its UTF-8 spelling (the raw exchange writes the head as latin1). */
function utf8Bytes(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

interface Spelling {
  readonly name: string;
  readonly query: string;
  readonly contentType: string;
  readonly body: (digest: string) => string;
  readonly chunked?: boolean;
}

const FORM = (digest: string) => `mount=${digest}&from=team-b/secret`;
const BOUNDARY = 'b0undary';
const MULTIPART = (digest: string) =>
  [
    `--${BOUNDARY}`,
    'Content-Disposition: form-data; name="mount"',
    '',
    digest,
    `--${BOUNDARY}`,
    'Content-Disposition: form-data; name="from"',
    '',
    'team-b/secret',
    `--${BOUNDARY}--`,
    '',
  ].join('\r\n');

const SPELLINGS: Spelling[] = [
  {
    name: 'U+0130 in application/x-www-form-urlencoded',
    query: '',
    contentType: utf8Bytes('applİcation/x-www-form-urlencoded'),
    body: FORM,
  },
  { name: 'a leading no-break space', query: '', contentType: utf8Bytes('\u00a0application/x-www-form-urlencoded'), body: FORM },
  {
    name: 'U+0130 in multipart/form-data',
    query: '',
    contentType: utf8Bytes(`multİpart/form-data; boundary=${BOUNDARY}`),
    body: MULTIPART,
  },
  { name: 'U+0130, chunked', query: '', contentType: utf8Bytes('applİcation/x-www-form-urlencoded'), body: FORM, chunked: true },
  {
    name: 'the mount in the query, the source in the body',
    query: '?mount=DIGEST',
    contentType: utf8Bytes('applİcation/x-www-form-urlencoded'),
    body: () => 'from=team-b/secret',
  },
  {
    name: 'a monolithic upload whose body is a form',
    query: '?digest=DIGEST',
    contentType: utf8Bytes('applİcation/x-www-form-urlencoded'),
    body: FORM,
  },
];

for (const kind of BACKEND_KINDS) {
  describe(`a mount hidden in an upload start's body steals no blob (${kind})`, () => {
    let dir: string;
    let tls: TlsPair;
    let backend: BackendUnderTest;
    let gate: TestGate;
    let secret: string;

    before(async () => {
      dir = await makeTempDir();
      tls = await makeTlsPair(join(dir, 'tls'));
      backend = await startBackend(kind, join(dir, 'distribution'));
      gate = await startGate({
        dir,
        tls,
        users: PASSWORDS,
        bcryptCost: 4,
        config: { groups: GROUPS, access: RULES, ...backend.gateConfig },
      });
      const bob = new RegistryClient(() => ({ baseUrl: gate.url, dispatcher: gate.dispatcher, authHeader: basic('bob', PASSWORDS.bob) }));
      secret = await bob.pushBlob('team-b/secret', randomBlob(4096));
    });

    after(async () => {
      await gate.stop();
      await backend.stop();
      if (dir) await removeDir(dir);
    });

    for (const spelling of SPELLINGS) {
      test(`${spelling.name}: a plain upload or a refusal, never a mount`, async () => {
        const body = spelling.body(secret);
        const framing = spelling.chunked ? `Transfer-Encoding: chunked` : `Content-Length: ${Buffer.byteLength(body)}`;
        const sent = spelling.chunked ? `${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n\r\n` : body;
        const target = `/v2/team-a/app/blobs/uploads/${spelling.query.replace('DIGEST', secret)}`;
        const head = [
          `POST ${target} HTTP/1.1`,
          `Host: ${gate.host}`,
          `Authorization: ${basic('alice', PASSWORDS.alice)}`,
          `Content-Type: ${spelling.contentType}`,
          framing,
        ].join('\r\n');
        const reply = await rawExchange(gate.url, head, { body: sent, ca: tls.caPem });
        assert.ok(
          reply.status === 202 || (reply.status >= 400 && reply.status < 500),
          `expected 202 or 4xx, got ${reply.status}: ${reply.raw.slice(0, 300)}`,
        );
        assert.notEqual(reply.status, 201, 'nothing was mounted');

        const alice = new RegistryClient(() => ({
          baseUrl: gate.url,
          dispatcher: gate.dispatcher,
          authHeader: basic('alice', PASSWORDS.alice),
        }));
        assert.equal(
          (await alice.call('HEAD', `/v2/team-a/app/blobs/${secret}`)).status,
          404,
          'the secret is not readable through the gateway',
        );
        if (kind === 'distribution') {
          const upstream = (backend.gateConfig.upstream as { url: string }).url;
          const direct = await request(`${upstream}/v2/team-a/app/blobs/${secret}`, { method: 'HEAD' });
          await direct.body.dump();
          assert.equal(direct.statusCode, 404, 'the registry itself did not link the secret into team-a/app');
        }
      });
    }

    test('an honest upload start and a monolithic upload still work', async () => {
      const alice = new RegistryClient(() => ({
        baseUrl: gate.url,
        dispatcher: gate.dispatcher,
        authHeader: basic('alice', PASSWORDS.alice),
      }));
      const chunked = await alice.pushBlob('team-a/app', randomBlob(2048));
      assert.equal((await alice.call('HEAD', `/v2/team-a/app/blobs/${chunked}`)).status, 200);
      const data = randomBlob(1024);
      const { createHash } = await import('node:crypto');
      const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
      const monolithic = await alice.call('POST', `/v2/team-a/app/blobs/uploads/?digest=${digest}`, {
        headers: { 'content-type': 'application/octet-stream' },
        body: data,
      });
      // Distribution 2.8 ignores `digest` on POST and opens an upload (202); the built-in registry stores the blob (201).
      assert.ok(monolithic.status === 201 || monolithic.status === 202, `monolithic: ${monolithic.status} ${monolithic.text()}`);
    });
  });
}
