/**
 * Connections to the directory: one TLS-protected, bound ldapts Client per use, and a small pool
 * of them for the service account's searches.
 *
 * Each Client is allowed exactly one TCP connection. ldapts silently reconnects a client whose
 * socket closed — in clear text, without StartTLS and without the bind — so a connection dropped
 * between StartTLS and a user's bind would send that user's password unencrypted, and a pooled
 * search could run anonymously. Refusing the second connection turns both into an error instead.
 */
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { Client } from 'ldapts';
import { InternalError } from '../../lib/internal-errors.js';

export interface DirectoryEndpoint {
  readonly url: string;
  /** ldap:// only: upgrade with StartTLS before anything else. */
  readonly startTls: boolean;
  readonly tls: ConnectionOptions;
  /** Connect and per-operation limit, ms. */
  readonly timeoutMs: number;
}

/** Raised when a Client would have reconnected on its own. */
export class ReconnectRefused extends InternalError {
  constructor() {
    super('RG_ERR_DIRECTORY_UNAVAILABLE', 'connection to the directory was lost');
    this.name = 'ReconnectRefused';
  }
}

/** Why a signal aborted, as an Error (an abort without a reason of its own is an AbortError). */
export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new DOMException('This operation was aborted', 'AbortError');
}

export function tlsOptionsFor(
  url: string,
  options: { ca?: string | Buffer; rejectUnauthorized: boolean; servername?: string },
): ConnectionOptions {
  const host = new URL(url).hostname.replace(/^\[(.*)\]$/, '$1');
  const name = options.servername ?? host;
  return {
    ...(options.ca !== undefined ? { ca: options.ca } : {}),
    rejectUnauthorized: options.rejectUnauthorized,
    // `host` is what the certificate is checked against; SNI must not carry an IP address.
    host: name,
    ...(isIP(name) === 0 ? { servername: name } : {}),
    minVersion: 'TLSv1.2',
  };
}

/** A Client and what we know about its one connection. */
export interface DirectoryConnection {
  readonly client: Client;
  /**
   * False once the connection closed. ldapts does not notice a StartTLS connection closing (it
   * listens on the plain socket it replaced), so the sockets are watched here.
   */
  readonly alive: boolean;
  close(): void;
}

/**
 * A connection, upgraded with StartTLS where configured, then bound as `bind` if given. Closed
 * again if any step fails or `signal` aborts before it is ready.
 */
export async function openConnection(
  endpoint: DirectoryEndpoint,
  signal: AbortSignal,
  bind?: { dn: string; password: string },
): Promise<DirectoryConnection> {
  const secure = endpoint.url.toLowerCase().startsWith('ldaps:');
  let connected = false;
  let alive = true;
  const watch = <S extends Socket>(socket: S): S => {
    const dead = () => {
      alive = false;
    };
    socket.once('end', dead);
    socket.once('close', dead);
    return socket;
  };
  const connectOnce = <F extends (...args: never[]) => Socket>(connect: F): F =>
    ((...args: Parameters<F>) => {
      if (connected) throw new ReconnectRefused();
      connected = true;
      return watch(connect(...args));
    }) as F;
  const client = new Client({
    url: endpoint.url,
    timeout: endpoint.timeoutMs,
    connectTimeout: endpoint.timeoutMs,
    // ldapts connects with TLS at once whenever tlsOptions is set, even for ldap:// URLs.
    ...(secure
      ? {
          tlsOptions: endpoint.tls,
          createSecureConnection: connectOnce(tlsConnect as (...args: never[]) => TLSSocket) as unknown as typeof tlsConnect,
        }
      : {
          createConnection: connectOnce(netConnect as (...args: never[]) => Socket) as unknown as typeof netConnect,
          // Used by ldapts only for the StartTLS upgrade of the connection above.
          createSecureConnection: ((options: ConnectionOptions) => watch(tlsConnect(options))) as typeof tlsConnect,
        }),
  });
  const connection: DirectoryConnection = {
    client,
    get alive() {
      return alive && client.isConnected;
    },
    close: () => closeClient(client),
  };
  const abort = () => connection.close();
  signal.addEventListener('abort', abort, { once: true });
  try {
    signal.throwIfAborted();
    if (!secure && endpoint.startTls) await client.startTLS({ ...endpoint.tls });
    // Never an unauthenticated bind (RFC 4513 §5.1.2): an empty password would "succeed" as anonymous.
    if (bind && bind.password === '') throw new InternalError('RG_ERR_INVALID_ARGUMENT', 'refusing a bind with an empty password');
    if (bind) await client.bind(bind.dn, bind.password);
    signal.throwIfAborted();
    return connection;
  } catch (error) {
    connection.close();
    throw error;
  } finally {
    signal.removeEventListener('abort', abort);
  }
}

/** Ends the connection without waiting or failing. */
function closeClient(client: Client): void {
  client.unbind().catch(() => undefined);
}

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

/**
 * Up to `size` connections bound as the service account, reused across searches. A connection that
 * failed below the LDAP protocol (socket error, timeout, refused reconnect) is dropped, never
 * reused; an LDAP result code (no such object, size limit…) leaves it usable. A search that fails
 * that way on a reused connection (the server closed it while idle, as Active Directory does after
 * 15 minutes) is retried once on a fresh one. Idle connections are closed after `idleMs`.
 */
export class ServiceConnectionPool {
  private readonly idle: Array<{ connection: DirectoryConnection; since: number }> = [];
  private readonly waiters: Waiter[] = [];
  private open = 0;
  private closed = false;
  private readonly sweep: NodeJS.Timeout;

  constructor(
    private readonly connect: (signal: AbortSignal) => Promise<DirectoryConnection>,
    private readonly size: number,
    private readonly isProtocolResult: (error: unknown) => boolean,
    idleMs = 60_000,
  ) {
    this.sweep = setInterval(() => this.closeIdle(idleMs), Math.max(1000, Math.floor(idleMs / 2))).unref();
  }

  /** Runs `work` (which must be safe to repeat) with a bound client; waits while all are busy, until `signal` aborts. */
  async use<T>(signal: AbortSignal, work: (client: Client) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt += 1) {
      const { connection, reused } = await this.acquire(signal, attempt > 0);
      let reusable = true;
      try {
        return await work(connection.client);
      } catch (error) {
        if (this.isProtocolResult(error)) throw error;
        reusable = false;
        if (!reused || attempt > 0 || signal.aborted) throw error;
      } finally {
        this.release(connection, reusable);
      }
    }
  }

  close(): void {
    this.closed = true;
    clearInterval(this.sweep);
    for (const { connection } of this.idle.splice(0)) this.discard(connection);
    for (const waiter of this.waiters.splice(0)) waiter.reject(new InternalError('RG_ERR_CLOSED', 'the LDAP provider is closed'));
  }

  private async acquire(signal: AbortSignal, fresh: boolean): Promise<{ connection: DirectoryConnection; reused: boolean }> {
    for (;;) {
      signal.throwIfAborted();
      if (this.closed) throw new InternalError('RG_ERR_CLOSED', 'the LDAP provider is closed');
      const idle = fresh ? undefined : this.idle.pop();
      if (idle) {
        if (idle.connection.alive && idle.connection.client.isBound) return { connection: idle.connection, reused: true };
        this.discard(idle.connection);
        continue;
      }
      if (this.open < this.size) {
        this.open += 1;
        try {
          return { connection: await this.connect(signal), reused: false };
        } catch (error) {
          this.open -= 1;
          this.wakeOne();
          throw error;
        }
      }
      if (fresh && this.idle.length > 0) {
        // Make room for a fresh connection by closing an idle one.
        this.discard((this.idle.shift() as { connection: DirectoryConnection }).connection);
        continue;
      }
      await this.waitForRelease(signal);
    }
  }

  private release(connection: DirectoryConnection, reusable: boolean): void {
    if (reusable && !this.closed && connection.alive && connection.client.isBound) {
      this.idle.push({ connection, since: Date.now() });
    } else {
      this.discard(connection);
    }
    this.wakeOne();
  }

  private discard(connection: DirectoryConnection): void {
    this.open -= 1;
    connection.close();
  }

  private wakeOne(): void {
    this.waiters.shift()?.resolve();
  }

  private waitForRelease(signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const index = this.waiters.indexOf(waiter);
        if (index >= 0) this.waiters.splice(index, 1);
        reject(abortReason(signal));
      };
      const waiter: Waiter = {
        resolve: () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (error) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      this.waiters.push(waiter);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private closeIdle(idleMs: number): void {
    const cutoff = Date.now() - idleMs;
    for (let index = this.idle.length - 1; index >= 0; index -= 1) {
      const entry = this.idle[index] as { connection: DirectoryConnection; since: number };
      if (entry.since <= cutoff || !entry.connection.alive) {
        this.idle.splice(index, 1);
        this.discard(entry.connection);
      }
    }
  }
}
