/**
 * A connection to the TLS port that does not finish its handshake is closed at a deadline.
 *
 * The attack: open connections to the TLS port and send nothing, or half a ClientHello, or a
 * ClientHello one byte at a time. The front door handed a socket to TLS only at its first byte and
 * set no deadline before that, and Node's handshake timeout is renewed by each byte, so such
 * connections were kept with no limit: hundreds of them held for minutes, and once the file
 * descriptors ran out legitimate clients got resets (the plain-HTTP port cut the same idle
 * connection after about 30 s). Now one deadline, `server.handshakeTimeout`, runs from the accept
 * to the end of the handshake, whatever the client sends; a connection that finished its
 * handshake is not cut by it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as connectTcp, type Socket } from 'node:net';
import { join } from 'node:path';
import { request } from 'undici';
import { startGate, type TestGate } from '../helpers/gate.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { openSocket } from '../helpers/slow-client.js';
import { waitFor, within } from '../helpers/wait.js';

const HANDSHAKE_TIMEOUT_MS = 1000;
/** Scheduling slack on a busy machine. */
const SLACK_MS = 2500;
/** The first bytes of a TLS 1.2 ClientHello record: a handshake record of 512 bytes, of which only these arrive. */
const HALF_CLIENT_HELLO = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]);

let dir: string;
let tls: TlsPair;
let gate: TestGate;

before(async () => {
  dir = await makeTempDir();
  tls = await makeTlsPair(join(dir, 'tls'));
  gate = await startGate({
    dir,
    tls,
    config: { server: { handshakeTimeout: `${HANDSHAKE_TIMEOUT_MS}ms` }, metrics: { listen: '127.0.0.1:0' } },
  });
});

after(async () => {
  await gate.stop();
  if (dir) await removeDir(dir);
});

/** A plain TCP connection to the TLS port; resolves once connected. */
async function tcpConnection(): Promise<Socket> {
  const target = new URL(gate.url);
  const socket = connectTcp({ host: target.hostname, port: Number(target.port) });
  socket.on('error', () => undefined); // a reset is a close too
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return socket;
}

/** How long until the server closed `socket`; fails when it has not within `limitMs`. */
async function closedWithin(socket: Socket, limitMs: number, what: string): Promise<number> {
  const started = performance.now();
  try {
    await within(limitMs, what, new Promise<void>((resolve) => socket.once('close', () => resolve())));
  } finally {
    socket.destroy();
  }
  return performance.now() - started;
}

async function handshakeTimeouts(): Promise<number> {
  const text = await (await request(gate.gate.metricsUrl!)).body.text();
  return Number(/^registry_gate_connections_timed_out_total\{deadline="handshake"\} (\d+)$/m.exec(text)?.[1] ?? NaN);
}

test('a connection that sends nothing is closed at the handshake deadline', async () => {
  const before = await handshakeTimeouts();
  const socket = await tcpConnection();
  const ms = await closedWithin(socket, HANDSHAKE_TIMEOUT_MS + SLACK_MS, 'the server closes a silent connection');
  assert.ok(ms >= HANDSHAKE_TIMEOUT_MS - 100, `closed after ${Math.round(ms)} ms, before the deadline`);
  await waitFor('the metric counts the cut connection', async () => (await handshakeTimeouts()) === before + 1);
});

test('a connection that sends half a ClientHello is closed at the handshake deadline', async () => {
  const socket = await tcpConnection();
  socket.write(HALF_CLIENT_HELLO);
  await closedWithin(socket, HANDSHAKE_TIMEOUT_MS + SLACK_MS, 'the server closes a half handshake');
});

test('a ClientHello sent a byte at a time does not renew the deadline', async () => {
  const socket = await tcpConnection();
  let sent = 0;
  // One byte every 100 ms, the record's head and then filler: each byte would renew an idle timeout.
  const hello = Buffer.concat([HALF_CLIENT_HELLO, Buffer.alloc(512 - HALF_CLIENT_HELLO.length, 0x01)]);
  const ticker = setInterval(() => {
    if (sent < hello.length && !socket.destroyed) socket.write(hello.subarray(sent, sent + 1));
    sent += 1;
  }, 100);
  try {
    await closedWithin(socket, HANDSHAKE_TIMEOUT_MS + SLACK_MS, 'the server closes a trickled handshake');
  } finally {
    clearInterval(ticker);
  }
});

test('a connection that finished its handshake is not cut by the handshake deadline', async () => {
  const socket = await openSocket(gate.url, { ca: tls.caPem });
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const state = { closed: false };
  socket.once('close', () => (state.closed = true));
  // Idle past the handshake deadline (the headers deadline, 20 s, is what applies now), then a request:
  // a wait for something that must not happen has to last the deadline.
  await new Promise((resolve) => setTimeout(resolve, HANDSHAKE_TIMEOUT_MS + 500));
  assert.equal(state.closed, false, 'the connection was cut after its handshake');
  socket.write(`GET /v2/ HTTP/1.1\r\nHost: ${gate.host}\r\nConnection: close\r\n\r\n`);
  await within(5000, 'the answer', new Promise<void>((resolve) => socket.once('close', () => resolve())));
  assert.match(Buffer.concat(chunks).toString('latin1'), /^HTTP\/1\.1 401 /);
});
