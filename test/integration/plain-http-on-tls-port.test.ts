/**
 * A plain-HTTP request on the TLS port gets an answer, not a reset.
 *
 * containerd's `ctr` (and curl with http://, and a docker daemon falling back after a failed
 * HTTPS attempt) speak plain HTTP to the TLS port; the connection used to be dropped, so they
 * reported only `EOF`. Like Distribution and nginx, the gateway now answers 400 with a short text
 * saying to use https, and closes. TLS clients on the same port are unaffected.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { request } from 'undici';
import { basic, startGate, type TestGate } from '../helpers/gate.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { makeTlsPair } from '../helpers/tls.js';
import { rawExchange } from '../helpers/access-http.js';

let dir: string;
let gate: TestGate;

before(async () => {
  dir = await makeTempDir();
  const tls = await makeTlsPair(join(dir, 'tls'));
  gate = await startGate({ dir, tls, users: { alice: 'alice-pw' } });
});

after(async () => {
  await gate.stop();
  if (dir) await removeDir(dir);
});

test('plain HTTP on the TLS port: 400 with a text that says to use https, then the connection closes', async () => {
  const plainUrl = gate.url.replace(/^https:/, 'http:');
  const reply = await rawExchange(plainUrl, `GET /v2/ HTTP/1.1\r\nHost: ${gate.host}`);
  assert.equal(reply.status, 400);
  assert.match(reply.body, /HTTP request to an HTTPS server; use https:\/\//);
  assert.match(reply.headers['connection'] ?? '', /close/i);
});

test('TLS clients on the same port still get their answers', async () => {
  const response = await request(`${gate.url}/v2/`, {
    dispatcher: gate.dispatcher,
    headers: { authorization: basic('alice', 'alice-pw') },
  });
  assert.equal(response.statusCode, 200);
  assert.deepEqual(await response.body.json(), {});
});
