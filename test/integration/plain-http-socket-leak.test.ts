/**
 * A plain-HTTP connection on the TLS port is freed, and never holds up shutdown.
 *
 * The leak: to answer plain HTTP with a 400, the front door put the first bytes back into the
 * socket and paused it. A paused socket with unread input never sees the client's FIN, so every
 * plain-HTTP request left a socket (and its file descriptor) open for good: anyone could pile them
 * up by sending `GET / HTTP/1.1` to the TLS port, and a docker daemon leaves one each time it falls
 * back to plain HTTP (after a refused anonymous pull in Basic mode). A graceful shutdown then
 * waited for those sockets forever. Now the rest of the request is read and dropped until the
 * client closes, and a client that keeps its end open is cut after a short linger.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { join } from 'node:path';
import { startGate, type TestGate } from '../helpers/gate.js';
import { within } from '../helpers/wait.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { rawExchange } from '../helpers/access-http.js';

let dir: string;
let tls: TlsPair;
let gates = 0;

before(async () => {
  dir = await makeTempDir();
  tls = await makeTlsPair(join(dir, 'tls'));
});

after(async () => {
  if (dir) await removeDir(dir);
});

const newGate = () => startGate({ dir: join(dir, `gate-${++gates}`), tls });

/** True when `gate.stop()` finished within `ms`. */
function stopsWithin(gate: TestGate, ms: number): Promise<boolean> {
  return within(ms, 'the shutdown', gate.stop()).then(
    () => true,
    () => false,
  );
}

test('after plain-HTTP requests whose clients closed, the gateway shuts down at once', async () => {
  const gate = await newGate();
  const plainUrl = gate.url.replace(/^https:/, 'http:');
  for (let i = 0; i < 3; i++) {
    const reply = await rawExchange(plainUrl, `GET /v2/ HTTP/1.1\r\nHost: ${gate.host}`);
    assert.equal(reply.status, 400);
  }
  assert.ok(await stopsWithin(gate, 1_000), 'no plain-HTTP socket is left open');
});

test('a plain-HTTP client that keeps its end open is cut after the linger, and shutdown does not wait for it', async () => {
  const gate = await newGate();
  // allowHalfOpen: this client neither closes when the server does nor sends anything more.
  const socket = connect({ host: '127.0.0.1', port: Number(new URL(gate.url).port), allowHalfOpen: true });
  try {
    socket.once('error', () => undefined);
    socket.setEncoding('latin1');
    let answer = '';
    const answered = new Promise<void>((resolve) =>
      socket.on('data', (chunk: string) => (answer += chunk).endsWith('use https://\n') && resolve()),
    );
    socket.write(`GET /v2/ HTTP/1.1\r\nHost: ${gate.host}\r\n\r\n`);
    await within(5_000, 'the plain-HTTP answer', answered).catch(() => undefined); // asserted just below
    assert.match(answer, /^HTTP\/1\.1 400 /);
    assert.ok(await stopsWithin(gate, 4_000), 'the server cut the connection after its linger (2 s) and shut down');
  } finally {
    socket.destroy();
  }
});
