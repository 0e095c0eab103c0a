/**
 * How many connections the listener holds, in total and per client address (nginx's `limit_conn`):
 * once the file descriptors of the process are spent, every client is refused with a reset; a cap
 * below that refuses the newcomers cleanly, and the per-client cap keeps one address from taking
 * them all. A client is its address as lib/ip.ts reads it: IPv4-mapped IPv6 is the IPv4 address,
 * and an IPv6 client is its /64 (a host is usually given a whole one). A trusted proxy is one
 * address carrying many clients: it counts only toward the total.
 */
import { clientNetwork, type AddressMatcher } from '../lib/ip.js';

/** Which cap refused a connection (a metrics label). */
export type ConnectionLimit = 'total' | 'per_client';

export interface ConnectionCapsOptions {
  readonly maxConnections: number;
  readonly maxConnectionsPerClient: number;
  /** Peers that count only toward the total (the trusted proxies, as the running config names them). */
  readonly sharedPeer: AddressMatcher;
}

/** A connection counted in; `release` once it has closed (more calls do nothing). */
export interface Admission {
  release(): void;
}

export class ConnectionCaps {
  readonly #options: ConnectionCapsOptions;
  #open = 0;
  readonly #perClient = new Map<string, number>();

  constructor(options: ConnectionCapsOptions) {
    this.#options = options;
  }

  get open(): number {
    return this.#open;
  }

  /** Counts in a connection from `peer` (a socket's remote address), or names the cap it is over. */
  admit(peer: string): Admission | ConnectionLimit {
    if (this.#open >= this.#options.maxConnections) return 'total';
    const client = this.#options.sharedPeer(peer) ? undefined : clientNetwork(peer);
    const fromClient = client === undefined ? 0 : (this.#perClient.get(client) ?? 0);
    if (client !== undefined && fromClient >= this.#options.maxConnectionsPerClient) return 'per_client';
    this.#open += 1;
    if (client !== undefined) this.#perClient.set(client, fromClient + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.#open -= 1;
        if (client === undefined) return;
        const left = (this.#perClient.get(client) ?? 1) - 1;
        if (left === 0) this.#perClient.delete(client);
        else this.#perClient.set(client, left);
      },
    };
  }
}
