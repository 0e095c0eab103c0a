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
 * A small body of declared length (up to a manifest's 4 MiB) is read whole before the answer, which
 * then goes out on a connection kept open, as nginx does: answering before such a body has arrived
 * hung containerd (containerd-refused-push-hang.test.ts). Here: the next request on that connection
 * is answered, and a small body that trickles gets its answer after 2 seconds and the lingering
 * close.
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
  const answer = parseAnswer(received, 0) ?? { status: NaN, headers: {}, body: '', end: received.length };
  return {
    received,
    status: answer.status,
    headers: answer.headers,
    body: answer.body,
    written,
    error,
    closedAfterMs: closedByServer && closing.at !== undefined ? closing.at - started : undefined,
  };
}

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
  /** Where the next answer on the connection starts in what was received. */
  readonly end: number;
}

/** The whole answer that starts at `from` in `received` (latin1); undefined while it is incomplete. */
function parseAnswer(received: string, from: number): Answer | undefined {
  const split = received.indexOf('\r\n\r\n', from);
  if (split === -1) return undefined;
  const [statusLine = '', ...lines] = received.slice(from, split).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const end = split + 4 + Number(headers['content-length'] ?? 0);
  if (received.length < end) return undefined;
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1] ?? NaN), headers, body: received.slice(split + 4, end), end };
}

/**
 * Sends `first` (head, then `bodySize` body bytes in 64 KiB pieces), waits for its whole answer,
 * then sends `second` on the same connection and waits for that answer; each wait ends after
 * `limitMs` or when the server closes the connection.
 */
async function twoRequestsOnOneConnection(
  url: string,
  ca: string,
  first: { head: string; bodySize: number },
  second: string,
  limitMs: number,
): Promise<{ answers: Answer[]; written: number; error: string | undefined }> {
  const target = new URL(url);
  const socket = connectTls({ host: target.hostname, port: Number(target.port), servername: 'localhost', ca });
  let received = '';
  let error: string | undefined;
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => (received += chunk));
  socket.on('error', (failure: NodeJS.ErrnoException) => (error ??= failure.code ?? failure.message));
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  const answers: Answer[] = [];
  const nextAnswer = async (): Promise<void> => {
    const from = answers.at(-1)?.end ?? 0;
    const deadline = Date.now() + limitMs;
    while (!socket.destroyed && Date.now() < deadline) {
      const answer = parseAnswer(received, from);
      if (answer) {
        answers.push(answer);
        return;
      }
      await Promise.race([
        new Promise((resolve) => socket.once('data', resolve)),
        new Promise((resolve) => socket.once('close', resolve)),
        sleep(100),
      ]);
    }
  };
  try {
    socket.write(`${first.head}\r\n\r\n`, 'latin1');
    const piece = Buffer.alloc(64 * KiB, 0x61);
    let written = 0;
    while (written < first.bodySize && !socket.destroyed) {
      const size = Math.min(piece.length, first.bodySize - written);
      if (!socket.write(piece.subarray(0, size)))
        await Promise.race([new Promise((resolve) => socket.once('drain', resolve)), sleep(limitMs)]);
      written += size;
    }
    await nextAnswer();
    if (answers.length === 1 && !socket.destroyed) {
      socket.write(`${second}\r\n\r\n`, 'latin1');
      await nextAnswer();
    }
    return { answers, written, error };
  } finally {
    socket.destroy();
  }
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

  test('a client that sends its whole 512 KiB body before it reads (as simple clients do), without credentials over TLS, gets the 401 after its body, on a connection kept open', async () => {
    const { answers, written, error } = await twoRequestsOnOneConnection(
      gate.url,
      tls.caPem,
      { head: uploadHead('PATCH', gate.host, 512 * KiB), bodySize: 512 * KiB },
      ['GET /v2/ HTTP/1.1', `Host: ${gate.host}`].join('\r\n'),
      10_000,
    );
    assert.equal(error, undefined, 'no reset, no broken pipe');
    assert.equal(written, 512 * KiB);
    const [refusal, next] = answers;
    assert.equal(refusal?.status, 401, `the upload's answer: ${JSON.stringify(refusal)}`);
    assert.equal(ociErrorCode(refusal.body), 'UNAUTHORIZED');
    assert.match(refusal.headers['www-authenticate'] ?? '', /^Basic realm=/);
    assert.notEqual(refusal.headers.connection, 'close', 'the body was read: the connection stays open');
    // The body was read to its end, not parsed as a request: the next request gets its own answer.
    assert.equal(next?.status, 401, `the next request on the connection: ${JSON.stringify(next)}`);
    assert.equal(ociErrorCode(next.body), 'UNAUTHORIZED');
  });

  test('a small declared body that trickles is not waited for beyond 2 seconds: the 401 and the lingering close follow', async () => {
    // 512 KiB declared, 1 KiB every 50 ms: it would take 25 s to arrive.
    const outcome = await uploadWhileReading({
      url: gate.url,
      head: uploadHead('PATCH', gate.host, 512 * KiB),
      total: 512 * KiB,
      chunk: 1 * KiB,
      intervalMs: 50,
      ca: tls.caPem,
      limitMs: 10_000,
    });
    assertUnauthorizedAnswer(outcome, 'trickling small PATCH');
    assert.ok(outcome.closedAfterMs !== undefined, 'the gateway closes a trickling upload itself');
    // About 2 s waiting for the body, then at most 2 s of lingering close.
    assert.ok(outcome.closedAfterMs >= 1500 && outcome.closedAfterMs < 7000, `closed after ${outcome.closedAfterMs} ms`);
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

  test('a 512 KiB token request that is not a form gets its 415 and OCI error after its body, on a connection kept open', async () => {
    const size = 512 * KiB;
    const head = [
      'POST /auth/token HTTP/1.1',
      `Host: ${gate.host}`,
      'Content-Type: application/octet-stream',
      `Content-Length: ${size}`,
    ].join('\r\n');
    const { answers, written, error } = await twoRequestsOnOneConnection(
      gate.url,
      tls.caPem,
      { head, bodySize: size },
      ['GET /v2/ HTTP/1.1', `Host: ${gate.host}`].join('\r\n'),
      10_000,
    );
    assert.equal(error, undefined, 'no reset, no broken pipe');
    assert.equal(written, size);
    const [refusal, next] = answers;
    assert.equal(refusal?.status, 415, `the token request's answer: ${JSON.stringify(refusal)}`);
    assert.equal(ociErrorCode(refusal.body), 'UNSUPPORTED', refusal.body);
    assert.equal(refusal.headers['cache-control'], 'no-store');
    assert.notEqual(refusal.headers.connection, 'close', 'the body was read: the connection stays open');
    assert.equal(next?.status, 401, `the next request on the connection: ${JSON.stringify(next)}`);
  });
});
