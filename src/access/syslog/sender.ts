/**
 * Sends syslog messages to one collector without ever making a request wait: `send` only queues,
 * and the queue is drained as fast as the connection takes it.
 *
 * - tcp, tls: one connection, each message framed by octet counting (`MSG-LEN SP SYSLOG-MSG`, RFC 6587
 *   §3.4.1, RFC 5425 §4.3); TLS verifies the collector's certificate against `ca` and the host of the
 *   address. A write the socket does not take at once (`write()` false) waits for `drain`; a
 *   connection refused or lost is tried again after an exponential backoff with jitter, up to
 *   MAX_BACKOFF_MS; a connection that works resets it.
 * - udp: one datagram per message (RFC 5426), at most MAX_UDP_IN_FLIGHT handed to the kernel at once.
 *
 * Meanwhile messages wait in a queue of at most `bufferBytes`; a message that does not fit is dropped
 * and counted, as is each one a broken connection lost, and each still queued at close once
 * CLOSE_FLUSH_MS has passed. Every message ends counted once: sent or dropped.
 */
import { Socket, connect as connectTcp, isIPv6, isIP } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import type { Logger } from 'pino';

export type SyslogTransport = 'tcp' | 'tls' | 'udp';
/** buffer_full: the queue was full; lost: the connection broke with it unsent; closed: still queued at close. */
export type SyslogDropReason = 'buffer_full' | 'lost' | 'closed';

/** Told of what happens to messages and the connection (the metrics). */
export interface SyslogObserver {
  sent(): void;
  dropped(reason: SyslogDropReason): void;
  /** +1 when a connection is up, -1 when it is down again. */
  connected(change: 1 | -1): void;
  /** Bytes queued, as they change. */
  queued(changeBytes: number): void;
}

export interface SenderOptions {
  readonly host: string;
  readonly port: number;
  readonly transport: SyslogTransport;
  /** PEM of the CA(s) the collector's certificate must chain to (tls); default the system's. */
  readonly ca?: string | undefined;
  readonly bufferBytes: number;
  readonly observer: SyslogObserver;
  readonly logger: Logger;
}

const FIRST_BACKOFF_MS = 200;
const MAX_BACKOFF_MS = 30_000;
const CONNECT_TIMEOUT_MS = 10_000;
const CLOSE_FLUSH_MS = 2_000;
const MAX_UDP_IN_FLIGHT = 64;
/** Past this many taken entries the queue's array is compacted. */
const COMPACT_AFTER = 1024;

/** A FIFO of messages counting its bytes. */
class MessageQueue {
  #items: Buffer[] = [];
  #head = 0;
  bytes = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(message: Buffer): void {
    this.#items.push(message);
    this.bytes += message.length;
  }

  take(): Buffer | undefined {
    const message = this.#items[this.#head];
    if (message === undefined) return undefined;
    this.#head++;
    this.bytes -= message.length;
    if (this.#head >= COMPACT_AFTER && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return message;
  }
}

type Connection = { readonly kind: 'stream'; readonly socket: Socket } | { readonly kind: 'datagram'; readonly socket: UdpSocket };

export class SyslogSender {
  readonly #options: SenderOptions;
  readonly #queue = new MessageQueue();
  readonly #address: string;
  #connection: Connection | undefined;
  /** The connection takes writes now (connected, and not waiting for `drain`). */
  #writable = false;
  /** Connected now (told to the observer). */
  #isUp = false;
  #inFlight = 0;
  #backoffMs = FIRST_BACKOFF_MS;
  #retry: NodeJS.Timeout | undefined;
  /** The collector was reported unreachable: said once per outage. */
  #reportedDown = false;
  #closing = false;
  #drained: (() => void) | undefined;

  constructor(options: SenderOptions) {
    this.#options = options;
    this.#address = `${isIPv6(options.host) ? `[${options.host}]` : options.host}:${options.port}`;
    this.#connect();
  }

  /** Queues a message (for tcp and tls, already framed); never waits, never throws. */
  send(message: Buffer): void {
    const { observer, bufferBytes } = this.#options;
    if (this.#closing) return observer.dropped('closed');
    if (this.#queue.bytes + message.length > bufferBytes) return observer.dropped('buffer_full');
    this.#queue.push(message);
    observer.queued(message.length);
    this.#pump();
  }

  /** Sends what is queued for up to CLOSE_FLUSH_MS, then closes the connection; what is left is dropped. */
  async close(): Promise<void> {
    this.#closing = true;
    clearTimeout(this.#retry);
    // Connected with messages still queued: the connection is taking them (or will at its next `drain`).
    if (this.#queue.length > 0 && this.#isUp) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, CLOSE_FLUSH_MS);
        this.#drained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    for (let message = this.#take(); message; message = this.#take()) this.#options.observer.dropped('closed');
    await this.#disconnect();
  }

  #take(): Buffer | undefined {
    const message = this.#queue.take();
    if (message) this.#options.observer.queued(-message.length);
    return message;
  }

  #connect(): void {
    const { host, port, transport, ca } = this.#options;
    if (transport === 'udp') {
      const socket = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
      this.#connection = { kind: 'datagram', socket };
      socket.on('error', (error) => this.#failed(error));
      socket.connect(port, host, () => this.#up());
      return;
    }
    const socket =
      transport === 'tls'
        ? connectTls({ host, port, ca, servername: isIP(host) ? undefined : host, rejectUnauthorized: true })
        : connectTcp({ host, port });
    this.#connection = { kind: 'stream', socket };
    socket.setTimeout(CONNECT_TIMEOUT_MS, () => socket.destroy(new Error('connect timed out')));
    socket.once(transport === 'tls' ? 'secureConnect' : 'connect', () => {
      socket.setTimeout(0);
      socket.setKeepAlive(true, 30_000);
      this.#up();
    });
    socket.on('drain', () => {
      this.#writable = true;
      this.#pump();
    });
    // A collector says nothing back; whatever it sends is read and thrown away.
    socket.resume();
    socket.on('error', (error: Error) => this.#failed(error));
    socket.on('close', () => this.#down(socket));
  }

  #up(): void {
    this.#isUp = true;
    this.#writable = true;
    this.#backoffMs = FIRST_BACKOFF_MS;
    this.#options.observer.connected(1);
    if (this.#reportedDown) this.#options.logger.info({ collector: this.#address }, 'syslog collector reachable again');
    this.#reportedDown = false;
    this.#pump();
  }

  #failed(error: Error): void {
    if (!this.#reportedDown && !this.#closing) {
      const code = (error as NodeJS.ErrnoException).code ?? error.message;
      this.#options.logger.warn(
        { collector: this.#address, code },
        'syslog collector unreachable; audit records are queued (up to audit.syslog.bufferSize) and it is tried again',
      );
      this.#reportedDown = true;
    }
    if (this.#connection?.kind === 'datagram') this.#connection.socket.close();
    this.#down(this.#connection?.socket);
  }

  /** The connection `socket` is gone: try again later, unless closing. */
  #down(socket: Socket | UdpSocket | undefined): void {
    if (socket === undefined || this.#connection?.socket !== socket) return;
    if (this.#isUp) this.#options.observer.connected(-1);
    this.#isUp = false;
    this.#connection = undefined;
    this.#writable = false;
    if (this.#closing) return;
    const delay = this.#backoffMs * (0.5 + Math.random() / 2);
    this.#backoffMs = Math.min(this.#backoffMs * 2, MAX_BACKOFF_MS);
    this.#retry = setTimeout(() => this.#connect(), delay);
  }

  /** Hands queued messages to the connection while it takes them. */
  #pump(): void {
    const connection = this.#connection;
    if (!connection || !this.#writable) return;
    if (connection.kind === 'datagram') this.#pumpDatagrams(connection.socket);
    else this.#pumpStream(connection.socket);
    if (this.#queue.length === 0 && this.#inFlight === 0) this.#drained?.();
  }

  #pumpStream(socket: Socket): void {
    const { observer } = this.#options;
    while (this.#writable) {
      const message = this.#take();
      if (!message) return;
      this.#writable = socket.write(message, (error) => (error ? observer.dropped('lost') : observer.sent()));
    }
  }

  #pumpDatagrams(socket: UdpSocket): void {
    const { observer } = this.#options;
    while (this.#inFlight < MAX_UDP_IN_FLIGHT) {
      const message = this.#take();
      if (!message) return;
      this.#inFlight++;
      socket.send(message, (error) => {
        this.#inFlight--;
        if (error) observer.dropped('lost');
        else observer.sent();
        this.#pump();
      });
    }
  }

  async #disconnect(): Promise<void> {
    const connection = this.#connection;
    if (!connection) return;
    if (connection.kind === 'datagram') {
      await new Promise<void>((resolve) => connection.socket.close(() => resolve()));
      return;
    }
    const { socket } = connection;
    if (socket.destroyed) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => socket.destroy(), CLOSE_FLUSH_MS);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.end();
    });
  }
}
