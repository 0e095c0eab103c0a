/**
 * The listener: node:https (or node:http with `tls: off`), with timeouts that cut slow-header
 * attacks but never a slow multi-GB upload, and a graceful shutdown that lets in-flight transfers
 * finish within a grace period.
 */
import { createServer as createHttpServer, STATUS_CODES, type Server, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import type { SecureContextOptions } from 'node:tls';
import { API_VERSION, API_VERSION_HEADER } from '../oci/api-version.js';
import { errorBody, RegistryError } from '../oci/errors.js';
import { JSON_CONTENT_TYPE } from '../oci/respond.js';
import { TLS_OPTIONS } from './tls.js';

/** Node's parser refused the request, so there is no ServerResponse: the answer is written to the socket. */
const PARSE_ERROR = new RegistryError('REQUEST_INVALID', 'malformed HTTP request');
const PARSE_ERROR_BODY = errorBody(PARSE_ERROR);
const PARSE_ERROR_RESPONSE = [
  `HTTP/1.1 ${PARSE_ERROR.status} ${STATUS_CODES[PARSE_ERROR.status] ?? ''}`,
  'Connection: close',
  `Content-Type: ${JSON_CONTENT_TYPE}`,
  `${API_VERSION_HEADER}: ${API_VERSION}`,
  `Content-Length: ${Buffer.byteLength(PARSE_ERROR_BODY)}`,
  '',
  PARSE_ERROR_BODY,
].join('\r\n');

const SOCKET_HIGH_WATER_MARK = 1024 * 1024;

/** What Distribution and nginx answer too: a plain-HTTP client on the TLS port learns why it failed. */
const PLAIN_HTTP_BODY = 'Client sent an HTTP request to an HTTPS server; use https://\n';
const PLAIN_HTTP_RESPONSE = [
  'HTTP/1.1 400 Bad Request',
  'Connection: close',
  'Content-Type: text/plain; charset=utf-8',
  `Content-Length: ${Buffer.byteLength(PLAIN_HTTP_BODY)}`,
  '',
  PLAIN_HTTP_BODY,
].join('\r\n');
const TLS_HANDSHAKE = 0x16;
/** How long a plain-HTTP client may keep its end open after the 400 before the socket is cut. */
const PLAIN_HTTP_LINGER_MS = 2_000;

/**
 * The TLS port's front door: a connection whose first byte starts a TLS handshake goes to the
 * https server (the byte is put back; TLS reads it from the socket's buffer), anything else gets a
 * plain-text 400 instead of a bare reset, so `ctr`, curl or a browser say what is wrong. The rest of
 * a plain-HTTP request is read and dropped until the client closes (a socket with unread input
 * never sees the client's FIN, so it was never freed, and shutdown waited for it forever), and a
 * client that does not close is cut after a short linger.
 */
function tlsFrontDoor(server: Server, highWaterMark: number): NetServer {
  return createNetServer({ highWaterMark }, (socket: Socket) => {
    socket.once('error', () => socket.destroy());
    socket.once('data', (first: Buffer) => {
      if (first[0] === TLS_HANDSHAKE) {
        socket.pause();
        socket.unshift(first);
        server.emit('connection', socket);
        return;
      }
      socket.end(PLAIN_HTTP_RESPONSE);
      socket.setTimeout(PLAIN_HTTP_LINGER_MS, () => socket.destroy());
      socket.resume();
    });
  });
}

export interface ListenOptions {
  readonly host: string;
  readonly port: number;
  /** PEM pair; undefined for plain HTTP. */
  readonly tls: SecureContextOptions | undefined;
  readonly headersTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
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

export async function listen(options: ListenOptions, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Listener> {
  const serverOptions = {
    headersTimeout: options.headersTimeoutMs,
    requestTimeout: 0, // no whole-request limit: a multi-GB push may take as long as it needs
    keepAliveTimeout: options.keepAliveTimeoutMs,
    maxHeaderSize: 16 * 1024,
    // Socket buffers of 16 KiB (the default) make every 64 KiB chunk of a blob wait for 'drain':
    // larger ones keep the TLS socket busy while the next chunk arrives.
    highWaterMark: SOCKET_HIGH_WATER_MARK,
  };
  const scheme = options.tls ? 'https' : 'http';
  const server: Server = options.tls
    ? createHttpsServer({ ...serverOptions, ...options.tls, ...TLS_OPTIONS }, handler)
    : createHttpServer(serverOptions, handler);
  server.timeout = options.idleTimeoutMs; // idle socket timeout while a request is in progress

  let inFlight = 0;
  let drained: (() => void) | undefined;
  server.on('request', (_req: IncomingMessage, res: ServerResponse) => {
    inFlight += 1;
    res.once('close', () => {
      inFlight -= 1;
      if (inFlight === 0) drained?.();
    });
  });
  server.on('clientError', (_error, socket) => {
    // The request never parsed (bad bytes in the target or headers): still an OCI error, and closed.
    if (socket.writable && !socket.destroyed) socket.end(PARSE_ERROR_RESPONSE);
    else socket.destroy();
  });

  // With TLS the https server gets its connections from the front door, which is what listens.
  const listening: NetServer = options.tls ? tlsFrontDoor(server, SOCKET_HIGH_WATER_MARK) : server;
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
