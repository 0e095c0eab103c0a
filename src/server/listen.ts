/**
 * The listener: node:https (or node:http with `tls: off`), with deadlines that cut slow and idle
 * clients but never a slow multi-GB blob transfer, caps on the connections it holds, and a graceful
 * shutdown that lets in-flight transfers finish within a grace period.
 *
 * What bounds a connection, from its accept: the caps (server/connection-caps.ts); on the TLS port
 * the handshake deadline (server/front-door.ts); Node's `headersTimeout` for each request's
 * headers; the request deadline (server/request-deadline.ts) for everything but blob transfers;
 * the idle timeout for those; the keep-alive timeout between requests.
 */
import { createServer as createHttpServer, type Server, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo, Server as NetServer, Socket } from 'node:net';
import type { SecureContextOptions } from 'node:tls';
import { API_VERSION, API_VERSION_HEADER } from '../oci/api-version.js';
import { RegistryError } from '../oci/errors.js';
import { rawErrorResponse, sendError } from '../oci/respond.js';
import { TLS_OPTIONS } from './tls.js';
import { ConnectionCaps, type ConnectionCapsOptions, type ConnectionLimit } from './connection-caps.js';
import { PLAIN_HTTP_LINGER_MS, tlsFrontDoor } from './front-door.js';
import { armRequestDeadline } from './request-deadline.js';

/** Node's parser refused the request, so there is no ServerResponse: the answer is written to the socket. */
const PARSE_ERROR_RESPONSE = rawErrorResponse(new RegistryError('REQUEST_INVALID', 'malformed HTTP request'));
/** The answer when the request's headers did not all arrive within `server.headersTimeout`. */
const HEADERS_TIMEOUT_RESPONSE = rawErrorResponse(new RegistryError('REQUEST_TIMEOUT', 'the request headers did not arrive in time'));

const SOCKET_HIGH_WATER_MARK = 1024 * 1024;

/**
 * How often Node looks for requests past `headersTimeout`. Its default, 30 s, let a slow-header
 * client hold its connection up to 30 s past the deadline; a pass over the open connections each
 * second costs little.
 */
function headersCheckIntervalMs(headersTimeoutMs: number): number {
  return Math.max(100, Math.min(1_000, Math.floor(headersTimeoutMs / 4)));
}

/**
 * Node enforces `headersTimeout` only from a timer it starts when the http(s) server itself emits
 * 'listening'. With TLS the front door is what listens and the https server never does: without
 * this, a client that sent its request headers a line at a time, or nothing at all after its
 * handshake, kept its connection for `idleTimeout` (renewed by each byte), with no deadline at all.
 */
function startHeadersDeadline(https: HttpsServer): void {
  https.emit('listening');
}

/** The answer to a request on a plain-HTTP connection over a cap; a TLS one is closed before its handshake. */
const REFUSALS: Record<ConnectionLimit, RegistryError> = {
  total: new RegistryError('UNAVAILABLE', 'the server holds too many connections; try again later', {
    headers: { Connection: 'close' },
  }),
  per_client: new RegistryError('TOO_MANY_CONNECTIONS', undefined, { headers: { Connection: 'close' } }),
};

/** What the listener reports, for the metrics (nothing about the client). */
export interface ConnectionObserver {
  opened(): void;
  closed(): void;
  /** A connection was refused: it was over this cap. */
  refused(limit: ConnectionLimit): void;
  /** A connection was cut at a deadline: the TLS handshake's or a request's. */
  deadlineExpired(deadline: 'handshake' | 'request'): void;
}

export interface ListenOptions {
  readonly host: string;
  readonly port: number;
  /** PEM pair; undefined for plain HTTP. */
  readonly tls: SecureContextOptions | undefined;
  readonly headersTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  /** From the accept to the end of the TLS handshake. */
  readonly handshakeTimeoutMs: number;
  /** Whole requests that are not blob transfers; 0: no limit. */
  readonly requestTimeoutMs: number;
  readonly caps: ConnectionCapsOptions;
  readonly observer?: ConnectionObserver | undefined;
}

export interface Listener {
  readonly server: Server;
  readonly url: string;
  readonly scheme: 'http' | 'https';
  /** Installs a new certificate for new handshakes; open connections keep theirs. */
  setTls(options: SecureContextOptions): void;
  /** Stops accepting, waits for in-flight requests up to `graceMs`, then cuts what is left. */
  shutdown(graceMs: number): Promise<void>;
}

/** Counts connections in against the caps until they close; remembers the refused plain-HTTP ones. */
class Admissions {
  readonly #caps: ConnectionCaps;
  readonly #observer: ConnectionObserver | undefined;
  readonly #refused = new WeakMap<Socket, RegistryError>();

  constructor(caps: ConnectionCapsOptions, observer: ConnectionObserver | undefined) {
    this.#caps = new ConnectionCaps(caps);
    this.#observer = observer;
  }

  /** Counts the connection in until it closes; the cap it is over, when it is. */
  admit(socket: Socket): ConnectionLimit | undefined {
    const admission = this.#caps.admit(socket.remoteAddress ?? '');
    if (typeof admission === 'string') {
      this.#observer?.refused(admission);
      return admission;
    }
    this.#observer?.opened();
    socket.once('close', () => {
      admission.release();
      this.#observer?.closed();
    });
    return undefined;
  }

  /**
   * A plain-HTTP connection over a cap: its request, once it came (Node parses it; its headers are
   * capped and timed), is answered with the refusal and the connection closed; a client that sends
   * nothing is cut after a short linger.
   */
  refusePlain(socket: Socket, limit: ConnectionLimit): void {
    this.#refused.set(socket, REFUSALS[limit]);
    const linger = setTimeout(() => socket.destroy(), PLAIN_HTTP_LINGER_MS);
    socket.once('close', () => clearTimeout(linger));
  }

  /** Answers the request when its connection was refused; false when it is to be served. */
  answeredRefusal(req: IncomingMessage, res: ServerResponse): boolean {
    const refusal = this.#refused.get(req.socket);
    if (!refusal) return false;
    res.setHeader(API_VERSION_HEADER, API_VERSION);
    sendError(res, refusal, req.method);
    return true;
  }
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** The http or https server, its timeouts set; `https` when it gets its connections from the TLS front door. */
function httpServer(options: ListenOptions, serve: Handler): { server: Server; https?: HttpsServer } {
  const serverOptions = {
    headersTimeout: options.headersTimeoutMs,
    connectionsCheckingInterval: headersCheckIntervalMs(options.headersTimeoutMs),
    requestTimeout: 0, // Node's applies to blob uploads too: the request deadline is armed instead
    keepAliveTimeout: options.keepAliveTimeoutMs,
    maxHeaderSize: 16 * 1024,
    // Socket buffers of 16 KiB (the default) make every 64 KiB chunk of a blob wait for 'drain':
    // larger ones keep the TLS socket busy while the next chunk arrives.
    highWaterMark: SOCKET_HIGH_WATER_MARK,
  };
  const https = options.tls ? createHttpsServer({ ...serverOptions, ...options.tls, ...TLS_OPTIONS }, serve) : undefined;
  if (https) startHeadersDeadline(https);
  const server: Server = https ?? createHttpServer(serverOptions, serve);
  server.timeout = options.idleTimeoutMs; // idle socket timeout while a request is in progress
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    // The request never parsed (bad bytes in the target or headers, or too slow): still an OCI error, and closed.
    const timedOut = error.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    if (!socket.writable || socket.destroyed) {
      socket.destroy();
      return;
    }
    socket.end(timedOut ? HEADERS_TIMEOUT_RESPONSE : PARSE_ERROR_RESPONSE);
    // end() waits for the client's FIN, which a client that reads nothing never lets it see: the
    // socket, still counted against the caps, stayed open as long as the client kept sending.
    const linger = setTimeout(() => socket.destroy(), PLAIN_HTTP_LINGER_MS);
    socket.once('close', () => clearTimeout(linger));
  });
  return https ? { server, https } : { server };
}

export async function listen(options: ListenOptions, handler: Handler): Promise<Listener> {
  const { observer } = options;
  const admissions = new Admissions(options.caps, observer);
  const { server, https } = httpServer(options, (req, res) => {
    if (admissions.answeredRefusal(req, res)) return;
    armRequestDeadline(req, res, options.requestTimeoutMs, () => observer?.deadlineExpired('request'));
    handler(req, res);
  });
  const scheme = https ? 'https' : 'http';

  let inFlight = 0;
  let drained: (() => void) | undefined;
  server.on('request', (_req: IncomingMessage, res: ServerResponse) => {
    inFlight += 1;
    res.once('close', () => {
      inFlight -= 1;
      if (inFlight === 0) drained?.();
    });
  });

  // With TLS the https server gets its connections from the front door, which is what listens.
  const frontDoor =
    https &&
    tlsFrontDoor(https, {
      highWaterMark: SOCKET_HIGH_WATER_MARK,
      handshakeTimeoutMs: options.handshakeTimeoutMs,
      admit: (socket) => admissions.admit(socket) === undefined,
      onHandshakeTimeout: () => observer?.deadlineExpired('handshake'),
    });
  const listening: NetServer = frontDoor?.listening ?? server;
  if (!https) {
    server.on('connection', (socket: Socket) => {
      const over = admissions.admit(socket);
      if (over) admissions.refusePlain(socket, over);
    });
  }
  await new Promise<void>((resolve, reject) => {
    listening.once('error', reject);
    listening.listen(options.port, options.host, () => {
      listening.off('error', reject);
      resolve();
    });
  });
  const address = listening.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  return {
    server,
    scheme,
    url: `${scheme}://${host === '0.0.0.0' ? '127.0.0.1' : host === '[::]' ? '[::1]' : host}:${address.port}`,
    setTls(tls) {
      (server as unknown as { setSecureContext(options: SecureContextOptions): void }).setSecureContext({ ...tls, ...TLS_OPTIONS });
    },
    async shutdown(graceMs) {
      const closed = new Promise<void>((resolve) => listening.close(() => resolve()));
      if (listening !== server) server.close();
      server.closeIdleConnections();
      frontDoor?.dropHandshaking();
      if (inFlight > 0) {
        const finished = new Promise<void>((resolve) => (drained = resolve));
        let timer: NodeJS.Timeout | undefined;
        const expired = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
        await Promise.race([finished, expired]);
        clearTimeout(timer);
      }
      server.closeAllConnections();
      await closed;
    },
  };
}
