/**
 * A blob download's `Range` gets the same clean answer in front of Distribution as from the
 * built-in registry: the range, the whole blob, or a 416 OCI error, never a broken answer.
 *
 * The attack: a client (anonymous, on a public repository) sends `Range: bytes=1000-` for a blob of
 * 1000 bytes, or a malformed range (`bytes=5-1`, `bytes=abc`) or a list of ranges. The gateway
 * forwarded them. Distribution 2.8 answered the unsatisfiable range with a plain-text 416 under the
 * blob's own `Content-Length` (1000) and a 33-byte body, so the client waited for bytes that never
 * came and got a broken connection; a malformed range got a plain-text 416; a list of ranges a
 * multipart body of as many parts as the client named. Now the gateway forwards only a single
 * well-formed byte range (others are ignored, as RFC 9110 allows and the built-in registry does)
 * and answers an upstream 416 itself with RANGE_INVALID JSON and the `Content-Range` the registry
 * gave.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startGate, basic, type TestGate } from '../helpers/gate.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { BACKEND_KINDS, ociErrorCode, rawExchange, startBackend, type BackendUnderTest, type RawReply } from '../helpers/access-http.js';
import { RegistryClient, randomBlob } from '../helpers/registry-client.js';

const PASSWORDS = { alice: 'alice-range-1' };
const RULES = [
  { repository: 'public/**', actions: ['pull'], subjects: ['*'] },
  { repository: '**', actions: ['pull', 'push'], subjects: ['user:alice'] },
];
const REPOSITORY = 'public/app';
const SIZE = 1000;
const IGNORED_RANGES = ['bytes=5-1', 'bytes=abc', 'bytes=0-1,5-6', 'items=0-1', 'bytes= 0-1x', `bytes=${'0-1,'.repeat(500)}0-1`];

for (const kind of BACKEND_KINDS) {
  describe(`Range on a blob download (${kind})`, () => {
    let dir: string;
    let backend: BackendUnderTest;
    let gate: TestGate;
    const blob = randomBlob(SIZE);
    let digest: string;

    before(async () => {
      dir = await makeTempDir();
      backend = await startBackend(kind, dir);
      gate = await startGate({ dir, users: PASSWORDS, bcryptCost: 4, config: { ...backend.gateConfig, access: RULES } });
      const client = new RegistryClient(() => ({ baseUrl: gate.url, authHeader: basic('alice', PASSWORDS.alice) }));
      digest = await client.pushBlob(REPOSITORY, blob);
    });

    after(async () => {
      await gate.stop();
      await backend.stop();
      if (dir) await removeDir(dir);
    });

    async function download(range: string): Promise<RawReply> {
      const head = [`GET /v2/${REPOSITORY}/blobs/${digest} HTTP/1.1`, `Host: ${gate.host}`, `Range: ${range}`].join('\r\n');
      const reply = await rawExchange(gate.url, head);
      // rawExchange cuts the body at Content-Length: a short body is a broken answer.
      assert.equal(
        Buffer.byteLength(reply.body, 'latin1'),
        Number(reply.headers['content-length']),
        `${range}: a body shorter than its Content-Length`,
      );
      return reply;
    }

    test('a single byte range is served as 206 with those bytes', async () => {
      const reply = await download('bytes=10-19');
      assert.equal(reply.status, 206);
      assert.equal(reply.headers['content-range'], `bytes 10-19/${SIZE}`);
      assert.deepEqual(Buffer.from(reply.body, 'latin1'), blob.subarray(10, 20));
    });

    test('an unsatisfiable range is a complete 416 RANGE_INVALID OCI error with the size', async () => {
      for (const range of [`bytes=${SIZE}-`, `bytes=${SIZE * 5}-${SIZE * 6}`]) {
        const reply = await download(range);
        assert.equal(reply.status, 416, `${range}: ${reply.status}`);
        assert.equal(ociErrorCode(reply.body), 'RANGE_INVALID', `${range}: ${reply.body.slice(0, 120)}`);
        assert.equal(reply.headers['content-range'], `bytes */${SIZE}`);
      }
    });

    test('a malformed range or a list of ranges is ignored: the whole blob, 200', async () => {
      for (const range of IGNORED_RANGES) {
        const reply = await download(range);
        assert.equal(reply.status, 200, `${range.slice(0, 40)}: ${reply.status} ${reply.body.slice(0, 80)}`);
        assert.doesNotMatch(reply.headers['content-type'] ?? '', /multipart/);
        assert.deepEqual(Buffer.from(reply.body, 'latin1'), blob, `${range.slice(0, 40)}: not the blob`);
      }
    });
  });
}
