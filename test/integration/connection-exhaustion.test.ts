/**
 * One client cannot take every connection: the listener caps connections per client address and
 * in total.
 *
 * The attack: one address opens connections and holds them (idle, half a handshake, a slow body)
 * until the process has no file descriptors left; from then on every client, legitimate or not,
 * is refused with a reset. Now a client address holds at most `server.maxConnectionsPerClient`
 * connections and the listener at most `server.maxConnections`: past a cap a new connection is
 * refused at once — on the TLS port closed before its handshake costs anything, on a plain-HTTP
 * port answered 503 with an OCI error and `Connection: close` — and counted in the metrics, while
 * other clients still get their answers. A trusted proxy carries many clients behind one address,
 * so it counts only toward the total. Other client addresses are other loopback addresses
 * (127.0.0.2, 127.0.0.3): on Linux all of 127/8 is loopback.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { request } from 'undici';
import { startGate, type TestGate } from '../helpers/gate.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { ociErrorCode } from '../helpers/access-http.js';
import { openSocket, sendSlowly } from '../helpers/slow-client.js';
import { waitFor, within } from '../helpers/wait.js';

const PER_CLIENT = 4;
const TOTAL = 10;
const PROXY = '127.0.0.3';

let dir: string;
let tls: TlsPair;
const held: Socket[] = [];

before(async () => {
  dir = await makeTempDir();
  tls = await makeTlsPair(join(dir, 'tls'));
});

after(async () => {
  for (const socket of held) socket.destroy();
  if (dir) await removeDir(dir);
});

function startCappedGate(name: string, withTls: boolean): Promise<TestGate> {
  return startGate({
    dir: join(dir, name),
    ...(withTls ? { tls } : {}),
    config: {
      server: { maxConnections: TOTAL, maxConnectionsPerClient: PER_CLIENT },
      trustedProxies: [PROXY],
      metrics: { listen: '127.0.0.1:0' },
    },
  });
}

/** Opens a connection from `from` and keeps it (TLS: handshake done). */
async function hold(gate: TestGate, from: string): Promise<Socket> {
  const socket = await openSocket(gate.url, { ca: tls.caPem, localAddress: from });
  socket.on('error', () => undefined);
  held.push(socket);
  return socket;
}

/** One `GET /v2/` on a fresh connection from `from`: the status, or the connection's failure. */
async function askFrom(gate: TestGate, from: string): Promise<{ status?: number; body: string; headers: string; failure?: string }> {
  try {
    const reply = await sendSlowly(gate.url, {
      head: `GET /v2/ HTTP/1.1\r\nHost: ${gate.host}\r\nConnection: close`,
      body: Buffer.alloc(0),
      ca: tls.caPem,
      localAddress: from,
      timeoutMs: 5000,
    });
    const split = reply.received.indexOf('\r\n\r\n');
    return { status: reply.status, headers: reply.received.slice(0, split), body: reply.received.slice(split + 4) };
  } catch (error) {
    return { failure: (error as NodeJS.ErrnoException).code ?? String(error), body: '', headers: '' };
  }
}

async function metric(gate: TestGate, series: string): Promise<number> {
  const text = await (await request(gate.gate.metricsUrl!)).body.text();
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return Number(line?.slice(series.length + 1) ?? NaN);
}

const refusals = (gate: TestGate, limit: 'total' | 'per_client') =>
  metric(gate, `registry_gate_connections_refused_total{limit="${limit}"}`);

describe('connection caps on the TLS port', () => {
  let gate: TestGate;

  before(async () => {
    gate = await startCappedGate('tls', true);
  });

  after(async () => {
    for (const socket of held.splice(0)) socket.destroy();
    await gate.stop();
  });

  test('past the per-client cap a connection is closed before its handshake; another client is still answered', async () => {
    const mine = [];
    for (let i = 0; i < PER_CLIENT; i++) mine.push(await hold(gate, '127.0.0.1'));
    const over = await within(5000, 'the refusal', askFrom(gate, '127.0.0.1'));
    assert.equal(over.status, undefined, 'a connection over the cap was served');
    assert.ok(over.failure, 'the connection over the cap failed');
    assert.equal(await refusals(gate, 'per_client'), 1);

    const other = await askFrom(gate, '127.0.0.2');
    assert.equal(other.status, 401, `another client: ${JSON.stringify(other)}`);

    // A connection that closes gives its place back.
    mine[0]?.destroy();
    await waitFor('a place freed for the first client', async () => (await askFrom(gate, '127.0.0.1')).status === 401);
  });

  test('a trusted proxy counts only toward the total; past the total every client is refused', async () => {
    for (const socket of held.splice(0)) socket.destroy();
    // Closed sockets are counted out once the server sees them close.
    await waitFor('the held connections are counted out', async () => (await metric(gate, 'registry_gate_connections_open')) === 0);
    const fromProxy = [];
    for (let i = 0; i < TOTAL; i++) fromProxy.push(await hold(gate, PROXY));
    assert.equal(fromProxy.length, TOTAL, 'the proxy holds more connections than one client may');
    const refusedBefore = await refusals(gate, 'total');
    const other = await askFrom(gate, '127.0.0.2');
    assert.equal(other.status, undefined, 'a connection over the total cap was served');
    assert.equal(await refusals(gate, 'total'), refusedBefore + 1);
  });
});

describe('connection caps on a plain-HTTP port', () => {
  let gate: TestGate;

  before(async () => {
    gate = await startCappedGate('plain', false);
  });

  after(async () => {
    for (const socket of held.splice(0)) socket.destroy();
    await gate.stop();
  });

  test('past the per-client cap the request is answered 503 TOOMANYREQUESTS with Connection: close', async () => {
    for (let i = 0; i < PER_CLIENT; i++) await hold(gate, '127.0.0.1');
    const over = await askFrom(gate, '127.0.0.1');
    assert.equal(over.status, 503, `over the cap: ${JSON.stringify(over)}`);
    assert.equal(ociErrorCode(over.body), 'TOOMANYREQUESTS');
    assert.match(over.headers, /\r\nconnection: close/i);
    assert.equal((await askFrom(gate, '127.0.0.2')).status, 401);
    assert.equal(await refusals(gate, 'per_client'), 1);
  });
});
