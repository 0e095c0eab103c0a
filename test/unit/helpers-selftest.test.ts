/**
 * The test helpers themselves: certificates node's TLS accepts, ports, child processes, the
 * header-capturing upstream, and credential redaction for skopeo.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { connect, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { startHeaderCapture } from '../helpers/header-capture.js';
import { freePort, makeTempDir, removeDir, startProcess, waitForHttp } from '../helpers/process.js';
import { accessArgs, secretsInArgs } from '../helpers/skopeo.js';
import { makeTlsPair, trustingAgent, type TlsPair } from '../helpers/tls.js';

describe('makeTlsPair', () => {
  let dir: string;
  let pair: TlsPair;
  let port: number;
  const server = createTlsServer();

  before(async () => {
    dir = await makeTempDir();
    pair = await makeTlsPair(dir);
    server.setSecureContext({ cert: pair.certPem, key: pair.keyPem });
    server.on('secureConnection', (socket) => socket.end('hello'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as { port: number }).port;
  });
  after(async () => {
    server.close();
    await removeDir(dir);
  });

  const handshake = (options: { ca?: string; servername?: string }): Promise<TLSSocket> =>
    new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, ...options }, () => resolve(socket));
      socket.once('error', reject);
    });

  test('a client trusting the CA accepts the server by IP (SAN 127.0.0.1)', async () => {
    const socket = await handshake({ ca: pair.caPem });
    assert.equal(socket.authorized, true);
    const [data] = (await once(socket, 'data')) as [Buffer];
    assert.equal(data.toString(), 'hello');
    socket.destroy();
  });

  test('a client trusting the CA accepts the server by name (SAN localhost)', async () => {
    const socket = await handshake({ ca: pair.caPem, servername: 'localhost' });
    assert.equal(socket.authorized, true);
    socket.destroy();
  });

  test('a client with the default trust store refuses it', async () => {
    await assert.rejects(handshake({}), /self[- ]signed|unable to (get|verify)/i);
  });

  test('a name outside the SAN is refused', async () => {
    await assert.rejects(handshake({ ca: pair.caPem, servername: 'example.com' }), /altnames|does not match/i);
  });

  test('the leaf is not a CA and caDir holds only ca.crt', async () => {
    const { X509Certificate } = await import('node:crypto');
    const leaf = new X509Certificate(pair.certPem);
    const ca = new X509Certificate(pair.caPem);
    assert.equal(leaf.ca, false);
    assert.equal(ca.ca, true);
    assert.ok(leaf.verify(ca.publicKey));
    assert.match(leaf.subjectAltName ?? '', /IP Address:127\.0\.0\.1/);
    const { readdir } = await import('node:fs/promises');
    assert.deepEqual(await readdir(pair.caDir), ['ca.crt']);
  });

  test('trustingAgent verifies HTTPS against the CA', async () => {
    const https = (await import('node:https')).createServer({ cert: pair.certPem, key: pair.keyPem }, (_, res) => res.end('ok'));
    https.listen(0, '127.0.0.1');
    await once(https, 'listening');
    const agent = trustingAgent(pair.caPem);
    try {
      const url = `https://127.0.0.1:${(https.address() as { port: number }).port}/`;
      await waitForHttp(url, { dispatcher: agent, timeoutMs: 2_000 });
      const res = await request(url, { dispatcher: agent });
      assert.equal(await res.body.text(), 'ok');
      await assert.rejects(request(url), /self[- ]signed|unable to (get|verify)/i);
    } finally {
      await agent.close();
      https.close();
    }
  });
});

describe('freePort', () => {
  test('returns a loopback port that can be bound right away', async () => {
    const port = await freePort();
    assert.ok(Number.isInteger(port) && port > 0 && port < 65536);
    const server = createServer();
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    server.close();
  });
});

describe('startProcess', () => {
  test('readyWhen sees a line; stop() ends the process', async () => {
    const proc = await startProcess(
      process.execPath,
      ['-e', 'console.log("booting"); console.error("READY"); setInterval(() => {}, 1000)'],
      {
        readyWhen: (line) => line === 'READY',
        timeoutMs: 5_000,
      },
    );
    assert.match(proc.output(), /booting/);
    await proc.stop();
    assert.ok(proc.child.exitCode !== null || proc.child.signalCode !== null);
    await proc.stop(); // idempotent
  });

  test('an early exit rejects with the captured output, secrets redacted', async () => {
    await assert.rejects(
      startProcess(process.execPath, ['-e', 'console.error("bad config, password hunter2"); process.exit(3)'], {
        readyWhen: () => false,
        redact: ['hunter2'],
        timeoutMs: 5_000,
      }),
      (err: Error) => {
        assert.match(err.message, /exited early \(code 3/);
        assert.match(err.message, /bad config, password \[REDACTED\]/);
        assert.doesNotMatch(err.message, /hunter2/);
        return true;
      },
    );
  });

  test('the timeout kills a process that never gets ready', async () => {
    await assert.rejects(
      startProcess(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { readyWhen: () => false, timeoutMs: 300 }),
      /not ready after 300 ms/,
    );
  });

  test('SIGKILL follows when SIGTERM is ignored', async () => {
    const proc = await startProcess(
      process.execPath,
      ['-e', 'process.on("SIGTERM", () => {}); console.log("up"); setInterval(() => {}, 1000)'],
      { readyWhen: (l) => l === 'up', killAfterMs: 200 },
    );
    await proc.stop();
    assert.equal(proc.child.signalCode, 'SIGKILL');
  });
});

describe('header capture', () => {
  test('records method, url, raw headers and body length; answers /v2/ like a registry', async () => {
    const upstream = await startHeaderCapture();
    try {
      const root = await request(`${upstream.url}/v2/`, { headers: { 'X-Forwarded-For': '10.0.0.1', 'x-dup': ['a', 'b'] } });
      assert.equal(root.statusCode, 200);
      assert.equal(root.headers['docker-distribution-api-version'], 'registry/2.0');
      assert.equal(await root.body.text(), '{}');

      const put = await request(`${upstream.url}/v2/a/b/blobs/uploads/?digest=x`, { method: 'PUT', body: 'x'.repeat(1000) });
      assert.equal(put.statusCode, 404);
      await put.body.dump();

      assert.equal(upstream.requests.length, 2);
      const [first, second] = upstream.requests;
      assert.equal(first!.method, 'GET');
      assert.equal(first!.headers['x-forwarded-for'], '10.0.0.1');
      assert.deepEqual(
        first!.rawHeaders.filter(([n]) => n.toLowerCase() === 'x-dup').map(([, v]) => v),
        ['a', 'b'],
      );
      assert.equal(second!.url, '/v2/a/b/blobs/uploads/?digest=x');
      assert.equal(second!.bodyLength, 1000);
      upstream.clear();
      assert.equal(upstream.requests.length, 0);
    } finally {
      await upstream.stop();
    }
  });

  test('respond overrides the default answer', async () => {
    const upstream = await startHeaderCapture({ respond: (r) => (r.url === '/teapot' ? { status: 418, body: 'short' } : undefined) });
    try {
      const res = await request(`${upstream.url}/teapot`);
      assert.equal(res.statusCode, 418);
      assert.equal(await res.body.text(), 'short');
    } finally {
      await upstream.stop();
    }
  });
});

describe('skopeo credential redaction', () => {
  test('secretsInArgs finds user:pass and pass in every credential flag form', () => {
    const args = [
      'copy',
      '--src-creds',
      'alice:s3cret:with:colons',
      '--dest-creds=bob:pw2',
      ...accessArgs('', { creds: { user: 'u', password: 'p4ss' } }),
    ];
    const secrets = secretsInArgs(args);
    for (const s of ['alice:s3cret:with:colons', 's3cret:with:colons', 'bob:pw2', 'pw2', 'u:p4ss', 'p4ss']) {
      assert.ok(secrets.includes(s), `missing ${s}`);
    }
  });
});
