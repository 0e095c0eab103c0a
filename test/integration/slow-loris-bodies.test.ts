/**
 * A slow body cannot hold a connection: bodies read before authentication have a total deadline,
 * and every request but a blob transfer has one for the whole exchange.
 *
 * The attack (slow loris): a client sends the headers of `POST /ui/login` or `POST /auth/token`
 * with `Content-Length: 16000`, then one byte every second. Nobody has authenticated yet, and each
 * byte renewed the 900 s idle timeout, so the connection was kept for hours; a few hundred such
 * connections spent the file descriptors and legitimate clients got no answer. Now a body the
 * gateway reads itself must arrive whole within `server.bodyTimeout` (408, and the connection is
 * closed), and a request that is not a blob transfer must be over within `server.requestTimeout`
 * (a body nobody reads, sent as slowly, is cut too). A blob upload that keeps moving is never cut
 * by either: it runs under the idle timeout only.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { request } from 'undici';
import { basic, startGate, type TestGate } from '../helpers/gate.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { ociErrorCode } from '../helpers/access-http.js';
import { sendSlowly, type SlowReply } from '../helpers/slow-client.js';
import { RegistryClient, randomBlob, sha256 } from '../helpers/registry-client.js';

const PASSWORDS = { alice: 'alice-slow-1' };
const BODY_TIMEOUT_MS = 1500;
const REQUEST_TIMEOUT_MS = 2500;
/** The 2 s lingering close after an early answer, and scheduling slack on a busy machine. */
const SLACK_MS = 2000 + 2500;
/** What the attack sends: a form announced as 16000 bytes, at one byte a second. */
const SLOW_BODY = Buffer.alloc(16_000, 0x61);

let dir: string;
let tls: TlsPair;
let gate: TestGate;

before(async () => {
  dir = await makeTempDir();
  tls = await makeTlsPair(join(dir, 'tls'));
  gate = await startGate({
    dir,
    tls,
    users: PASSWORDS,
    bcryptCost: 4,
    config: {
      auth: { token: { service: 'slow-loris-test' } },
      server: { bodyTimeout: `${BODY_TIMEOUT_MS}ms`, requestTimeout: `${REQUEST_TIMEOUT_MS}ms` },
      metrics: { listen: '127.0.0.1:0' },
    },
  });
});

after(async () => {
  await gate.stop();
  if (dir) await removeDir(dir);
});

function head(method: string, path: string, headers: string[]): string {
  return [`${method} ${path} HTTP/1.1`, `Host: ${gate.host}`, ...headers].join('\r\n');
}

function assertCutAfter(reply: SlowReply, deadlineMs: number, what: string): void {
  assert.ok(reply.closedByServer, `${what}: the server kept the connection (${reply.bodyBytesSent} body bytes sent)`);
  assert.ok(reply.closedAfterMs >= deadlineMs - 100, `${what}: closed after ${Math.round(reply.closedAfterMs)} ms, before its deadline`);
  assert.ok(reply.closedAfterMs < deadlineMs + SLACK_MS, `${what}: closed only after ${Math.round(reply.closedAfterMs)} ms`);
}

async function requestDeadlinesExpired(): Promise<number> {
  const text = await (await request(gate.gate.metricsUrl!)).body.text();
  return Number(/^registry_gate_connections_timed_out_total\{deadline="request"\} (\d+)$/m.exec(text)?.[1] ?? NaN);
}

function responseBody(reply: SlowReply): string {
  return reply.received.slice(reply.received.indexOf('\r\n\r\n') + 4);
}

describe('bodies read before authentication', () => {
  test('a login form sent a byte a second is cut at the body deadline with 408, and the connection closed', async () => {
    const reply = await sendSlowly(gate.url, {
      head: head('POST', '/ui/login', ['Content-Type: application/x-www-form-urlencoded', `Content-Length: ${SLOW_BODY.length}`]),
      body: SLOW_BODY,
      tickMs: 1000,
      ca: tls.caPem,
      timeoutMs: 20_000,
    });
    assertCutAfter(reply, BODY_TIMEOUT_MS, 'the login form');
    assert.equal(reply.status, 408, `answered ${JSON.stringify(reply.received.slice(0, 120))}`);
    assert.match(reply.received, /\r\nconnection: close\r\n/i);
  });

  test('a token request form sent a byte a second is cut at the body deadline with a 408 OCI error', async () => {
    const reply = await sendSlowly(gate.url, {
      head: head('POST', '/auth/token', ['Content-Type: application/x-www-form-urlencoded', `Content-Length: ${SLOW_BODY.length}`]),
      body: SLOW_BODY,
      tickMs: 1000,
      ca: tls.caPem,
      timeoutMs: 20_000,
    });
    assertCutAfter(reply, BODY_TIMEOUT_MS, 'the token form');
    assert.equal(reply.status, 408, `answered ${JSON.stringify(reply.received.slice(0, 120))}`);
    assert.equal(ociErrorCode(responseBody(reply)), 'REQUEST_TIMEOUT');
  });

  test('a form that arrives whole within the deadline is still served', async () => {
    const form = 'grant_type=password&service=slow-loris-test&username=alice&password=alice-slow-1';
    const reply = await sendSlowly(gate.url, {
      head: head('POST', '/auth/token', [
        'Content-Type: application/x-www-form-urlencoded',
        `Content-Length: ${form.length}`,
        'Connection: close',
      ]),
      body: Buffer.from(form),
      initialBytes: form.length,
      ca: tls.caPem,
      timeoutMs: 10_000,
    });
    assert.equal(reply.status, 200, `answered ${JSON.stringify(reply.received.slice(0, 120))}`);
  });
});

describe('the request deadline', () => {
  test('a body nobody reads, sent a byte a second after the answer, is cut at the request deadline', async () => {
    // `GET /v2/` is answered at once; Node then reads the unread body to keep the connection: that read is under the deadline too.
    const expiredBefore = await requestDeadlinesExpired();
    const reply = await sendSlowly(gate.url, {
      head: head('GET', '/v2/', [`Authorization: ${basic('alice', PASSWORDS.alice)}`, `Content-Length: ${SLOW_BODY.length}`]),
      body: SLOW_BODY,
      tickMs: 1000,
      ca: tls.caPem,
      timeoutMs: 20_000,
    });
    assert.equal(reply.status, 200, `answered ${JSON.stringify(reply.received.slice(0, 120))}`);
    assertCutAfter(reply, REQUEST_TIMEOUT_MS, 'the unread body');
    assert.equal(await requestDeadlinesExpired(), expiredBefore + 1, 'the cut is counted');
  });

  test('a blob upload that keeps moving runs past the request deadline and completes', async () => {
    const client = new RegistryClient(() => ({
      baseUrl: gate.url,
      dispatcher: gate.dispatcher,
      authHeader: basic('alice', PASSWORDS.alice),
    }));
    const location = await client.startUpload('alice/slow');
    const blob = randomBlob(8);
    const path = RegistryClient.withQuery(location, { digest: sha256(blob) });
    // One byte every 500 ms: 4 s in all, past the 2.5 s request deadline.
    const reply = await sendSlowly(gate.url, {
      head: head('PUT', path, [
        `Authorization: ${basic('alice', PASSWORDS.alice)}`,
        'Content-Type: application/octet-stream',
        `Content-Length: ${blob.length}`,
        'Connection: close',
      ]),
      body: blob,
      tickMs: 500,
      ca: tls.caPem,
      timeoutMs: 15_000,
    });
    assert.equal(reply.status, 201, `answered ${JSON.stringify(reply.received.slice(0, 200))}`);
    assert.ok(reply.closedAfterMs > REQUEST_TIMEOUT_MS, `the upload took ${Math.round(reply.closedAfterMs)} ms: too fast to show anything`);
    assert.equal((await client.call('HEAD', `/v2/alice/slow/blobs/${sha256(blob)}`)).status, 200);
  });
});
