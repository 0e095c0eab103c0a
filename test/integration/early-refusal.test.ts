/**
 * An early refusal must reach the client, and must not cost an unbounded read.
 *
 * The failure: a client starts a large upload (a PUT or PATCH of a blob) without credentials, or
 * sends a token request the endpoint refuses before reading it. The gateway answers at once (401,
 * 415, …) while the body is still arriving, and used to close the connection right after the
 * answer: closing a socket with unread bytes in it makes the kernel send a reset, and a client still
 * writing then sees ECONNRESET or EPIPE instead of the 401 and its challenge. The fix is nginx's
 * lingering close: answer, keep reading and discarding for a while, then close. The other half is
 * the attack on the fix: a client that keeps sending forever (fast, or a trickle) must not hold the
 * gateway reading: the drain stops after 1 MiB or 2 seconds, whichever comes first.
 *
 * Real clients over TLS: curl (which stops sending when it sees an error answer mid-upload), and a
 * raw TLS socket that keeps writing while it reads, so nothing is hidden by a client library.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startGate, type TestGate } from '../helpers/gate.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { makeTempDir, removeDir, runProcess } from '../helpers/process.js';
import { ociErrorCode } from '../helpers/access-http.js';

const USERS = { alice: 'alice-early-1' };
const KiB = 1024;
const MiB = 1024 * KiB;
const UPLOAD = '/v2/team/app/blobs/uploads/0b8f2a6e-5c1d-4f5e-9a51-3f0e7c2d9b10';

interface UploadOutcome {
  /** Everything the server sent, as latin1. */
  readonly received: string;
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
  /** Body bytes the client managed to hand to its socket. */
  readonly written: number;
  /** The socket error the client saw, if any (ECONNRESET, EPIPE, …). */
  readonly error: string | undefined;
  /** Milliseconds from the first body byte until the server closed the connection; undefined if it never did. */
  readonly closedAfterMs: number | undefined;
}

interface UploadPlan {
  readonly url: string;
  readonly head: string;
  /** Body bytes to offer in total (the declared Content-Length may be larger). */
  readonly total: number;
  readonly chunk: number;
  /** Pause between chunks; 0 writes as fast as the socket takes them. */
  readonly intervalMs: number;
  readonly ca?: string | undefined;
  /** Give up (and destroy the socket) after this long. */
  readonly limitMs: number;
}

/**
 * Sends `head` then up to `total` body bytes, reading whatever the server answers meanwhile, until
 * the server closes the connection or `limitMs` passes (then the client closes it itself).
 */
async function uploadWhileReading(plan: UploadPlan): Promise<UploadOutcome> {
  const target = new URL(plan.url);
  const port = Number(target.port);
  const tls = target.protocol === 'https:';
  const socket: Socket = tls
    ? connectTls({ host: target.hostname, port, servername: 'localhost', ...(plan.ca ? { ca: plan.ca } : {}) })
    : connectTcp({ host: target.hostname, port });
  const chunks: Buffer[] = [];
  let error: string | undefined;
  // An object, so that the loop below reads what the 'close' listener sets.
  const closing: { closed: boolean; at?: number } = { closed: false };
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', (failure: NodeJS.ErrnoException) => (error ??= failure.code ?? failure.message));
  const whenClosed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      closing.closed = true;
      closing.at = Date.now();
      resolve();
    }),
  );
  await new Promise<void>((resolve, reject) => {
    socket.once(tls ? 'secureConnect' : 'connect', resolve);
    socket.once('error', reject);
  });
  socket.write(`${plan.head}\r\n\r\n`, 'latin1');
  const started = Date.now();
  const piece = Buffer.alloc(plan.chunk, 0x61);
  let written = 0;
  while (written < plan.total && !closing.closed && !socket.destroyed && Date.now() - started < plan.limitMs) {
    const size = Math.min(plan.chunk, plan.total - written);
    const accepted = socket.write(size === plan.chunk ? piece : piece.subarray(0, size));
    written += size;
    if (!accepted) await Promise.race([new Promise((resolve) => socket.once('drain', resolve)), whenClosed, sleep(plan.limitMs)]);
    if (plan.intervalMs > 0) await Promise.race([sleep(plan.intervalMs), whenClosed]);
  }
  const left = plan.limitMs - (Date.now() - started);
  if (!closing.closed) await Promise.race([whenClosed, sleep(Math.max(left, 0))]);
  const closedByServer = closing.closed;
  if (!closing.closed) socket.destroy();
  const received = Buffer.concat(chunks).toString('latin1');
  const split = received.indexOf('\r\n\r\n');
  const [statusLine = '', ...lines] = (split === -1 ? received : received.slice(0, split)).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const length = Number(headers['content-length'] ?? 0);
  return {
    received,
    status: Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1] ?? NaN),
    headers,
    body: split === -1 ? '' : received.slice(split + 4, split + 4 + length),
    written,
    error,
    closedAfterMs: closedByServer && closing.at !== undefined ? closing.at - started : undefined,
  };
}

function uploadHead(method: 'PUT' | 'PATCH', host: string, length: number): string {
  const target = method === 'PUT' ? `${UPLOAD}?digest=sha256:${'0'.repeat(64)}` : UPLOAD;
  return [`${method} ${target} HTTP/1.1`, `Host: ${host}`, 'Content-Type: application/octet-stream', `Content-Length: ${length}`].join(
    '\r\n',
  );
}

function assertUnauthorizedAnswer(outcome: UploadOutcome, what: string): void {
  assert.equal(
    outcome.status,
    401,
    `${what}: expected the 401, got ${JSON.stringify(outcome.received.slice(0, 200))} (socket error: ${outcome.error})`,
  );
  assert.equal(ociErrorCode(outcome.body), 'UNAUTHORIZED', `${what}: OCI error JSON expected, got ${JSON.stringify(outcome.body)}`);
  assert.match(outcome.headers['www-authenticate'] ?? '', /^Basic realm=/, `${what}: the challenge`);
  assert.equal(outcome.headers.connection, 'close', `${what}: the answer says the connection will be closed`);
}

describe('an early refusal reaches the client, over a bounded drain', () => {
  let dir: string;
  let tls: TlsPair;
  let gate: TestGate;
  let plain: TestGate;

  before(async () => {
    dir = await makeTempDir('rg-early-');
    tls = await makeTlsPair(join(dir, 'tls'));
    gate = await startGate({ dir: join(dir, 'tls-gate'), tls, users: USERS, bcryptCost: 4 });
    plain = await startGate({ dir: join(dir, 'plain-gate'), users: USERS, bcryptCost: 4 });
  });

  after(async () => {
    await gate.stop();
    await plain.stop();
    if (dir) await removeDir(dir);
  });

  for (const [method, size] of [
    ['PATCH', 512 * KiB],
    ['PUT', 512 * KiB],
    ['PUT', 64 * MiB],
  ] as const) {
    test(`curl: a ${size / KiB} KiB ${method} without credentials over TLS gets the 401, not a reset`, async () => {
      const file = join(dir, `body-${size}`);
      await writeFile(file, Buffer.alloc(size, 0x62));
      const target = method === 'PUT' ? `${gate.url}${UPLOAD}?digest=sha256:${'0'.repeat(64)}` : `${gate.url}${UPLOAD}`;
      const result = await runProcess(
        'curl',
        [
          '--silent',
          '--show-error',
          '--cacert',
          tls.caFile,
          '-X',
          method,
          '--data-binary',
          `@${file}`,
          '-H',
          'Content-Type: application/octet-stream',
          '-H',
          'Expect:',
          '-D',
          '-',
          '--max-time',
          '20',
          target,
        ],
        { timeoutMs: 30_000 },
      );
      assert.equal(result.code, 0, `curl failed (exit ${result.code}): ${result.stderr.trim()}`);
      const split = result.stdout.indexOf('\r\n\r\n');
      assert.match(result.stdout, /^HTTP\/1\.1 401 /, result.stdout.slice(0, 300));
      assert.equal(ociErrorCode(result.stdout.slice(split + 4)), 'UNAUTHORIZED', result.stdout);
      assert.match(result.stdout, /\r\nwww-authenticate: Basic realm=/i);
    });
  }

  test('a client that sends its whole 512 KiB body before it reads (as simple clients do), without credentials over TLS, gets the 401 on a clean close', async () => {
    const outcome = await uploadWhileReading({
      url: gate.url,
      head: uploadHead('PATCH', gate.host, 512 * KiB),
      total: 512 * KiB,
      chunk: 64 * KiB,
      intervalMs: 0,
      ca: tls.caPem,
      limitMs: 10_000,
    });
    assertUnauthorizedAnswer(outcome, 'PATCH 512 KiB');
    assert.equal(outcome.error, undefined, 'the whole body fits in the drain: no reset, no broken pipe');
    assert.equal(outcome.written, 512 * KiB, 'the gateway read the whole body before it closed');
    assert.ok(outcome.closedAfterMs !== undefined, 'the gateway closes the connection after the answer');
  });

  test('a raw client writing a 64 MiB PUT as fast as it can, without credentials over TLS, reads the 401 before the connection closes', async () => {
    const outcome = await uploadWhileReading({
      url: gate.url,
      head: uploadHead('PUT', gate.host, 64 * MiB),
      total: 64 * MiB,
      chunk: 64 * KiB,
      intervalMs: 0,
      ca: tls.caPem,
      limitMs: 15_000,
    });
    assertUnauthorizedAnswer(outcome, 'PUT 64 MiB');
    assert.ok(outcome.closedAfterMs !== undefined, 'the gateway closes the connection, not the client');
    // It lingered (read on after answering) but stopped long before the end of the body.
    assert.ok(outcome.written >= 1 * MiB, `the gateway drains before it closes (the client got only ${outcome.written} bytes out)`);
    assert.ok(outcome.written < 64 * MiB, `the gateway stops reading long before 64 MiB (the client got ${outcome.written} bytes out)`);
  });

  test('the drain is bounded in bytes: an endless fast upload is cut after about 1 MiB', async () => {
    // Plain HTTP so that the server's byte count on the socket is the body's, not TLS records'.
    const sockets: Socket[] = [];
    const onConnection = (socket: Socket) => sockets.push(socket);
    plain.gate.listener.server.on('connection', onConnection);
    try {
      // 256 KiB every 20 ms (about 12 MiB/s): 1 MiB is reached after about 80 ms, the 2 s limit never.
      const outcome = await uploadWhileReading({
        url: plain.url,
        head: uploadHead('PUT', plain.host, 1024 * MiB),
        total: 1024 * MiB,
        chunk: 256 * KiB,
        intervalMs: 20,
        limitMs: 10_000,
      });
      assertUnauthorizedAnswer(outcome, 'endless PUT');
      assert.ok(
        outcome.closedAfterMs !== undefined && outcome.closedAfterMs < 1800,
        `closed by the byte bound, before the time bound (after ${outcome.closedAfterMs} ms)`,
      );
      const socket = sockets.at(-1);
      assert.ok(socket, 'the gateway saw the connection');
      // The head, at most 1 MiB drained, and what was in flight in one read.
      assert.ok(socket.bytesRead <= 1 * MiB + 512 * KiB, `the gateway read ${socket.bytesRead} bytes`);
    } finally {
      plain.gate.listener.server.off('connection', onConnection);
    }
  });

  test('the drain is bounded in time: a trickling upload is cut after about 2 seconds', async () => {
    const outcome = await uploadWhileReading({
      url: gate.url,
      head: uploadHead('PATCH', gate.host, 64 * MiB),
      total: 64 * MiB,
      chunk: 1 * KiB,
      intervalMs: 50,
      ca: tls.caPem,
      limitMs: 8_000,
    });
    assertUnauthorizedAnswer(outcome, 'trickling PATCH');
    assert.ok(outcome.closedAfterMs !== undefined, 'the gateway closes a trickling upload itself');
    assert.ok(outcome.closedAfterMs >= 1000 && outcome.closedAfterMs < 5000, `closed after ${outcome.closedAfterMs} ms`);
  });
});

describe('an early refusal at the token endpoint reaches the client too', () => {
  let dir: string;
  let tls: TlsPair;
  let gate: TestGate;

  before(async () => {
    dir = await makeTempDir('rg-early-token-');
    tls = await makeTlsPair(join(dir, 'tls'));
    gate = await startGate({
      dir: join(dir, 'gate'),
      tls,
      users: USERS,
      bcryptCost: 4,
      config: { auth: { scheme: 'bearer', token: { service: 'early.test' } } },
    });
  });

  after(async () => {
    await gate.stop();
    if (dir) await removeDir(dir);
  });

  test('a 512 KiB token request that is not a form, sent whole before reading, gets its 415 and OCI error on a clean close', async () => {
    const size = 512 * KiB;
    const head = [
      'POST /auth/token HTTP/1.1',
      `Host: ${gate.host}`,
      'Content-Type: application/octet-stream',
      `Content-Length: ${size}`,
    ].join('\r\n');
    const outcome = await uploadWhileReading({
      url: gate.url,
      head,
      total: size,
      chunk: 64 * KiB,
      intervalMs: 0,
      ca: tls.caPem,
      limitMs: 10_000,
    });
    assert.equal(
      outcome.status,
      415,
      `expected the 415, got ${JSON.stringify(outcome.received.slice(0, 200))} (socket error: ${outcome.error})`,
    );
    assert.equal(ociErrorCode(outcome.body), 'UNSUPPORTED', outcome.body);
    assert.equal(outcome.headers['cache-control'], 'no-store');
    assert.equal(outcome.headers.connection, 'close');
    assert.equal(outcome.error, undefined, 'no reset, no broken pipe');
    assert.equal(outcome.written, size, 'the gateway read the whole body before it closed');
    assert.ok(outcome.closedAfterMs !== undefined, 'the gateway closes the connection');
  });
});
