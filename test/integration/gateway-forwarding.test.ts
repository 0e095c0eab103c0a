/**
 * What reaches the upstream and what the client sees when the upstream misbehaves: forwarded
 * headers for trusted and untrusted peers, hop-by-hop and credential stripping, an unreachable
 * upstream, an upstream that dies mid-body, a client that goes away mid-request.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { once } from 'node:events';
import { request } from 'undici';
import { startHeaderCapture, type HeaderCapture } from '../helpers/header-capture.js';
import { makeTempDir, removeDir, freePort } from '../helpers/process.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { startGate, basic, type TestGate } from '../helpers/gate.js';
import { waitFor } from '../helpers/wait.js';

const USER = { user: 'alice', password: 'alice-secret-1' };
const auth = { authorization: basic(USER.user, USER.password) };

describe('forwarded headers', () => {
  let dir: string;
  let tls: TlsPair;
  let capture: HeaderCapture;
  let trusting: TestGate;
  let untrusting: TestGate;

  before(async () => {
    dir = await makeTempDir('rg-fwd-');
    tls = await makeTlsPair(join(dir, 'tls'));
    capture = await startHeaderCapture();
    const users = { [USER.user]: USER.password };
    trusting = await startGate({
      dir: join(dir, 'a'),
      tls,
      users,
      config: { upstream: { url: capture.url, auth: 'none' }, trustedProxies: ['127.0.0.0/8'] },
    });
    untrusting = await startGate({
      dir: join(dir, 'b'),
      tls,
      users,
      config: { upstream: { url: capture.url, auth: 'none' }, trustedProxies: ['10.0.0.0/8'] },
    });
  });

  after(async () => {
    await trusting.stop();
    await untrusting.stop();
    await capture.stop();
    await removeDir(dir);
  });

  const spoofed = { 'x-forwarded-for': '203.0.113.9', 'x-real-ip': '203.0.113.9', 'x-forwarded-proto': 'http', cookie: 'session=1' };

  test('from an untrusted peer, forwarded headers are replaced with the real ones', async () => {
    capture.clear();
    const response = await request(`${untrusting.url}/v2/app/manifests/latest`, {
      dispatcher: untrusting.dispatcher,
      headers: { ...auth, ...spoofed },
    });
    await response.body.dump();
    const seen = capture.requests.at(-1);
    assert.ok(seen);
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(seen.headers['x-real-ip'], '127.0.0.1');
    assert.equal(seen.headers['x-forwarded-proto'], 'https');
    assert.equal(seen.headers.host, untrusting.host, 'Host is the client’s, so the registry builds Location URLs the client can use');
    // (Connection-listed headers are covered by the unit tests: undici will not send a custom Connection.)
    for (const name of ['authorization', 'cookie']) assert.equal(seen.headers[name], undefined, name);
    assert.equal(seen.url, '/v2/app/manifests/latest');
  });

  test('from a trusted proxy, forwarded headers are kept and the peer appended', async () => {
    capture.clear();
    const response = await request(`${trusting.url}/v2/app/manifests/latest`, {
      dispatcher: trusting.dispatcher,
      headers: { ...auth, ...spoofed },
    });
    await response.body.dump();
    const seen = capture.requests.at(-1);
    assert.ok(seen);
    assert.equal(seen.headers['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
    assert.equal(seen.headers['x-real-ip'], '203.0.113.9');
    assert.equal(seen.headers['x-forwarded-proto'], 'http');
  });

  test('the query string and path are forwarded byte for byte', async () => {
    capture.clear();
    const response = await request(`${untrusting.url}/v2/a/b/blobs/uploads/some-id?_state=abc%3D%3D&digest=sha256:00`, {
      method: 'PUT',
      dispatcher: untrusting.dispatcher,
      headers: auth,
      body: 'x',
    });
    await response.body.dump();
    assert.equal(capture.requests.at(-1)?.url, '/v2/a/b/blobs/uploads/some-id?_state=abc%3D%3D&digest=sha256:00');
  });
});

describe('upstream failures', () => {
  let dir: string;
  let misbehaving: Server;
  let upstreamRequests: IncomingMessage[];

  before(async () => {
    dir = await makeTempDir('rg-fail-');
    upstreamRequests = [];
    misbehaving = createServer((req, res) => {
      upstreamRequests.push(req);
      if (req.url?.includes('/blobs/sha256:')) {
        // Promise a large body, send part of it, then die.
        res.writeHead(200, { 'content-length': '1000000', 'content-type': 'application/octet-stream' });
        res.write(Buffer.alloc(64 * 1024), () => res.socket?.destroy());
        return;
      }
      if (req.url?.includes('/slow/')) return; // never answers
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
    misbehaving.listen(0, '127.0.0.1');
    await once(misbehaving, 'listening');
  });

  after(async () => {
    misbehaving.closeAllConnections();
    misbehaving.close();
    await removeDir(dir);
  });

  test('an unreachable upstream is a quick 503 with an OCI error, not a hang', async () => {
    const port = await freePort();
    const gate = await startGate({
      dir: join(dir, 'down'),
      users: { [USER.user]: USER.password },
      config: { upstream: { url: `http://127.0.0.1:${port}` } },
    });
    try {
      // Not a hang: the answer comes within 3 s or the request is aborted and the test fails.
      const response = await request(`${gate.url}/v2/app/manifests/latest`, {
        dispatcher: gate.dispatcher,
        headers: auth,
        signal: AbortSignal.timeout(3000),
      });
      assert.equal(response.statusCode, 503);
      assert.equal(response.headers['retry-after'], '5');
      assert.equal(response.headers['docker-distribution-api-version'], 'registry/2.0');
      const body = (await response.body.json()) as { errors: Array<{ code: string; message: string }> };
      assert.equal(body.errors[0]?.code, 'UNAVAILABLE');
      assert.doesNotMatch(body.errors[0].message, /127\.0\.0\.1/);
    } finally {
      await gate.stop();
    }
  });

  test('an upstream that breaks mid-body breaks the client connection instead of ending it', async () => {
    const port = (misbehaving.address() as AddressInfo).port;
    const gate = await startGate({
      dir: join(dir, 'broken'),
      users: { [USER.user]: USER.password },
      config: { upstream: { url: `http://127.0.0.1:${port}` } },
    });
    try {
      const response = await request(`${gate.url}/v2/app/blobs/sha256:${'a'.repeat(64)}`, { dispatcher: gate.dispatcher, headers: auth });
      assert.equal(response.statusCode, 200);
      await assert.rejects(response.body.arrayBuffer());
    } finally {
      await gate.stop();
    }
  });

  test('a client that goes away aborts the upstream request', async () => {
    const port = (misbehaving.address() as AddressInfo).port;
    const gate = await startGate({
      dir: join(dir, 'abort'),
      users: { [USER.user]: USER.password },
      config: { upstream: { url: `http://127.0.0.1:${port}` } },
    });
    try {
      const controller = new AbortController();
      const pending = request(`${gate.url}/v2/slow/manifests/latest`, {
        dispatcher: gate.dispatcher,
        headers: auth,
        signal: controller.signal,
      });
      const upstreamSide = await waitFor(
        'the request reached the upstream',
        () => upstreamRequests.find((req) => req.url?.includes('/slow/')),
        {
          timeoutMs: 3000,
        },
      );
      const closed = once(upstreamSide.socket, 'close');
      controller.abort();
      await assert.rejects(pending);
      await closed;
    } finally {
      await gate.stop();
    }
  });
});
