/**
 * The TLS port's front door, the net server that accepts its connections before TLS sees them.
 *
 * - It counts each connection in against the caps (server/connection-caps.ts); one over a cap is
 *   closed unanswered, before a handshake costs anything.
 * - A connection whose first byte starts a TLS handshake goes to the https server (the byte is put
 *   back; TLS reads it from the socket's buffer); anything else gets a plain-text 400 instead of a
 *   bare reset, so `ctr`, curl or a browser say what is wrong. The rest of a plain-HTTP request is
 *   read and dropped until the client closes (a socket with unread input never sees the client's
 *   FIN, so it was never freed, and shutdown waited for it forever), and a client that does not
 *   close is cut after a short linger.
 * - From the accept to the end of the handshake runs one deadline, not renewed by each byte: a
 *   client that sent nothing, or half a ClientHello, or one byte now and then, used to be kept with
 *   no limit (Node's handshake timeout is an idle timeout, and starts only once TLS has the socket).
 */
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { Server as TlsServer, TLSSocket } from 'node:tls';

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
export const PLAIN_HTTP_LINGER_MS = 2_000;

export interface TlsFrontDoorOptions {
  readonly highWaterMark: number;
  /** From the accept to the end of the TLS handshake (`server.handshakeTimeout`). */
  readonly handshakeTimeoutMs: number;
  /** Counts the connection in; false when it is over a cap (it is then closed here). */
  readonly admit: (socket: Socket) => boolean;
  readonly onHandshakeTimeout: () => void;
}

/** One connection, as both the raw socket and the TLS socket made from it report it. */
function peerEndpoint(socket: Socket): string {
  return `${socket.remoteAddress ?? ''}|${String(socket.remotePort ?? '')}`;
}

export interface TlsFrontDoor {
  readonly listening: NetServer;
  /** Closes the connections whose handshake is not over (at shutdown: the https server does not know them yet). */
  dropHandshaking(): void;
}

export function tlsFrontDoor(server: TlsServer, options: TlsFrontDoorOptions): TlsFrontDoor {
  /** Connections whose handshake is under way: their socket, and what ends their deadline. */
  const handshaking = new Map<string, { socket: Socket; over: () => void }>();
  server.on('secureConnection', (tlsSocket: TLSSocket) => handshaking.get(peerEndpoint(tlsSocket))?.over());

  const listening = createNetServer({ highWaterMark: options.highWaterMark }, (socket: Socket) => {
    socket.once('error', () => socket.destroy());
    if (!options.admit(socket)) {
      socket.destroy();
      return;
    }
    const endpoint = peerEndpoint(socket);
    const deadline = setTimeout(() => {
      options.onHandshakeTimeout();
      socket.destroy();
    }, options.handshakeTimeoutMs);
    const handshakeOver = (): void => {
      clearTimeout(deadline);
      handshaking.delete(endpoint);
    };
    handshaking.set(endpoint, { socket, over: handshakeOver });
    socket.once('close', handshakeOver);
    socket.once('data', (first: Buffer) => {
      if (first[0] === TLS_HANDSHAKE) {
        socket.pause();
        socket.unshift(first);
        server.emit('connection', socket);
        return;
      }
      handshakeOver();
      socket.end(PLAIN_HTTP_RESPONSE);
      socket.setTimeout(PLAIN_HTTP_LINGER_MS, () => socket.destroy());
      socket.resume();
    });
  });
  return {
    listening,
    dropHandshaking() {
      for (const { socket } of handshaking.values()) socket.destroy();
    },
  };
}
