/**
 * A client that sends its request slowly, as a slow-loris attack does: the head at once, then the
 * body a few bytes at a time (or part of it, then nothing), over a raw TCP or TLS socket so that
 * no client library buffers or times anything. It reports what the server answered and when the
 * server closed the connection. Every send is bounded: by the body's length and by `timeoutMs`,
 * after which the client closes and reports that the server had not.
 */
import { connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';

export interface SlowRequest {
  /** Request line and headers, without the blank line that ends them. */
  readonly head: string;
  readonly body: Buffer;
  /** Bytes of the body sent with the head. */
  readonly initialBytes?: number;
  /** After those, one byte every `tickMs`; undefined: nothing more (a stall). */
  readonly tickMs?: number;
  /** The CA to trust, for https. */
  readonly ca?: string;
  /** The source address of the connection (another loopback address is another client). */
  readonly localAddress?: string;
  /** When the client gives up and closes the connection itself. */
  readonly timeoutMs: number;
}

export interface SlowReply {
  /** Whether the server closed the connection before `timeoutMs`. */
  readonly closedByServer: boolean;
  /** Time from the head being sent to the connection's close. */
  readonly closedAfterMs: number;
  readonly status: number | undefined;
  /** Everything the server sent, as latin1 text. */
  readonly received: string;
  readonly bodyBytesSent: number;
}

/** A connected socket (TLS handshake done, for https) to `url`'s host and port. */
export async function openSocket(url: string, options: { ca?: string; localAddress?: string } = {}): Promise<Socket> {
  const target = new URL(url);
  const port = Number(target.port);
  const address = options.localAddress ? { localAddress: options.localAddress } : {};
  const socket: Socket =
    target.protocol === 'https:'
      ? connectTls({ host: target.hostname, port, servername: 'localhost', ...address, ...(options.ca ? { ca: options.ca } : {}) })
      : connectTcp({ host: target.hostname, port, ...address });
  await new Promise<void>((resolve, reject) => {
    socket.once(target.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
      socket.off('error', reject);
      resolve();
    });
    socket.once('error', reject);
  });
  return socket;
}

export async function sendSlowly(url: string, request: SlowRequest): Promise<SlowReply> {
  const socket = await openSocket(url, request);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => undefined); // a reset after the answer is still a close
  const initial = request.initialBytes ?? 0;
  socket.write(Buffer.concat([Buffer.from(`${request.head}\r\n\r\n`, 'latin1'), request.body.subarray(0, initial)]));
  const started = performance.now();
  let sent = initial;
  const ticker =
    request.tickMs === undefined
      ? undefined
      : setInterval(() => {
          if (sent >= request.body.length || socket.destroyed) return;
          socket.write(request.body.subarray(sent, sent + 1));
          sent += 1;
        }, request.tickMs);
  let gaveUp = false;
  const giveUp = setTimeout(() => {
    gaveUp = true;
    socket.destroy();
  }, request.timeoutMs);
  await new Promise<void>((resolve) => socket.once('close', () => resolve()));
  clearInterval(ticker);
  clearTimeout(giveUp);
  const received = Buffer.concat(chunks).toString('latin1');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(received)?.[1];
  return {
    closedByServer: !gaveUp,
    closedAfterMs: performance.now() - started,
    status: status === undefined ? undefined : Number(status),
    received,
    bodyBytesSent: sent,
  };
}
