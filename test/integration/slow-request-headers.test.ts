/**
 * Slow request headers cannot hold a connection: `server.headersTimeout` cuts them, on the TLS port too.
 *
 * The attack (slow loris, on the headers this time): an unauthenticated client completes the TLS
 * handshake, sends `GET /v2/ HTTP/1.1` and then one header line every few hundred milliseconds, or
 * nothing at all. Node enforces `headersTimeout` only from a timer it starts when the http(s)
 * server emits 'listening'; on the TLS port the front door listens and the https server never did,
 * so such a connection was kept for the idle timeout (900 s, renewed by every byte): a few hundred
 * of them from a handful of addresses held the listener's connections with no deadline at all. On
 * plain HTTP the deadline was checked every 30 s only, so it held up to 30 s past it. Now both cut
 * the connection within about a second of the deadline with a 408 OCI error.
 *
 * And a client that never reads the 408 (nor a 400 for a malformed request) kept the socket: the
 * server ended its side and waited for the client's FIN, which a socket with unread input never
 * sees, so the connection stayed open, counted against the caps, as long as the client kept
 * sending. Now it is cut after a short linger; measured by the server's own gauge of open
 * connections (`registry_gate_connections_open`).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { request } from 'undici';
import { startGate, type TestGate } from '../helpers/gate.js';
import { pollUntilEqual } from '../helpers/wait.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { openSocket } from '../helpers/slow-client.js';

const HEADERS_TIMEOUT_MS = 1500;
/** Node's check runs every HEADERS_TIMEOUT_MS / 4, plus scheduling slack on a busy machine. */
const SLACK_MS = 3000;
/** When the client gives up and reports that the server had kept the connection. */
const GIVE_UP_MS = 15_000;

interface Held {
  readonly closedByServer: boolean;
  readonly closedAfterMs: number;
  readonly received: string;
}

/**
 * Opens a connection to `url` and sends `start` (if any), then one header line every 300 ms
 * (if `trickle`), until the server closes the connection or GIVE_UP_MS passes.
 */
async function holdConnection(url: string, ca: string | undefined, start: string | undefined, trickle: boolean): Promise<Held> {
  const socket = await openSocket(url, ca ? { ca } : {});
  const started = performance.now();
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => undefined); // a reset after the answer is still a close
  if (start !== undefined) socket.write(start);
  let lines = 0;
  const ticker = trickle
    ? setInterval(() => {
        if (!socket.destroyed && lines < GIVE_UP_MS / 300) socket.write(`X-Slow-${String((lines += 1))}: a\r\n`);
      }, 300)
    : undefined;
  let gaveUp = false;
  const giveUp = setTimeout(() => {
    gaveUp = true;
    socket.destroy();
  }, GIVE_UP_MS);
  await new Promise<void>((resolve) => socket.once('close', () => resolve()));
  clearInterval(ticker);
  clearTimeout(giveUp);
  return { closedByServer: !gaveUp, closedAfterMs: performance.now() - started, received: Buffer.concat(chunks).toString('latin1') };
}

function assertCutAtHeadersDeadline(held: Held, what: string): void {
  assert.ok(held.closedByServer, `${what}: the server kept the connection for ${GIVE_UP_MS} ms`);
  assert.ok(
    held.closedAfterMs >= HEADERS_TIMEOUT_MS - 100,
    `${what}: closed after ${Math.round(held.closedAfterMs)} ms, before the deadline`,
  );
  assert.ok(held.closedAfterMs < HEADERS_TIMEOUT_MS + SLACK_MS, `${what}: closed only after ${Math.round(held.closedAfterMs)} ms`);
}

function assertTimeoutAnswer(held: Held, what: string): void {
  assert.match(held.received, /^HTTP\/1\.1 408 /, `${what}: answered ${JSON.stringify(held.received.slice(0, 80))}`);
  const body = held.received.slice(held.received.indexOf('\r\n\r\n') + 4);
  assert.equal((JSON.parse(body) as { errors: { code: string }[] }).errors[0]?.code, 'REQUEST_TIMEOUT');
}

for (const transport of ['tls', 'plain'] as const) {
  describe(`slow request headers (${transport === 'tls' ? 'TLS port' : 'plain HTTP'})`, () => {
    let dir: string;
    let tls: TlsPair | undefined;
    let gate: TestGate;

    before(async () => {
      dir = await makeTempDir();
      tls = transport === 'tls' ? await makeTlsPair(join(dir, 'tls')) : undefined;
      gate = await startGate({
        dir,
        ...(tls ? { tls } : {}),
        users: { alice: 'alice-headers-1' },
        bcryptCost: 4,
        config: {
          server: { headersTimeout: `${HEADERS_TIMEOUT_MS}ms`, requestTimeout: '60s', idleTimeout: '900s' },
          metrics: { listen: '127.0.0.1:0' },
        },
      });
    });

    after(async () => {
      await gate.stop();
      if (dir) await removeDir(dir);
    });

    test('headers sent a line every 300 ms are cut at the headers deadline with a 408 OCI error', async () => {
      const held = await holdConnection(gate.url, tls?.caPem, 'GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\n', true);
      assertCutAtHeadersDeadline(held, 'trickled headers');
      assertTimeoutAnswer(held, 'trickled headers');
    });

    test('a connection that sends nothing after connecting is cut at the headers deadline', async () => {
      const held = await holdConnection(gate.url, tls?.caPem, undefined, false);
      assertCutAtHeadersDeadline(held, 'a silent connection');
    });

    async function openConnections(): Promise<number> {
      const text = await (await request(gate.gate.metricsUrl ?? '')).body.text();
      return Number(/^registry_gate_connections_open (\d+)$/m.exec(text)?.[1] ?? NaN);
    }

    test('a client that never reads the answer loses the connection all the same', async () => {
      assert.equal(await pollUntilEqual(openConnections, 0), 0, 'connections left open by the tests before');
      const sockets = await Promise.all(
        ['GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\n', 'GET /v2/ HTTP/1.1\r\nBad Header\r\n'].map((start) =>
          openSocket(gate.url, tls ? { ca: tls.caPem } : {}).then((socket) => {
            socket.on('error', () => undefined);
            socket.write(start); // and no 'data' listener: the answer is never read
            return socket;
          }),
        ),
      );
      let lines = 0;
      const ticker = setInterval(() => {
        lines += 1;
        for (const socket of sockets) if (!socket.destroyed && lines < GIVE_UP_MS / 300) socket.write(`X-Slow-${String(lines)}: a\r\n`);
      }, 300);
      try {
        assert.equal(await openConnections(), 2);
        const open = await pollUntilEqual(openConnections, 0, { timeoutMs: HEADERS_TIMEOUT_MS + 2000 + SLACK_MS, intervalMs: 200 });
        assert.equal(open, 0, 'the server still holds connections whose client does not read');
      } finally {
        clearInterval(ticker);
        for (const socket of sockets) socket.destroy();
      }
    });

    test('a request whose headers come in time is answered as before', async () => {
      const held = await holdConnection(gate.url, tls?.caPem, 'GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n', false);
      assert.match(held.received, /^HTTP\/1\.1 401 /);
      assert.ok(held.closedAfterMs < HEADERS_TIMEOUT_MS, `answered after ${Math.round(held.closedAfterMs)} ms`);
    });
  });
}
