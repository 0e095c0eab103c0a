/**
 * An issuer's signing keys: its discovery document (`ISSUER/.well-known/openid-configuration`, whose
 * `issuer` must be the configured one byte for byte, and whose `jwks_uri` must be https) and the
 * JWKS it names, fetched over TLS (the policy's `ca`, else the system's), cached, and fetched again
 *
 * - when they are older than KEYS_TTL_MS: the keys at hand keep verifying while the new ones are
 *   fetched in the background, up to MAX_STALE_MS past their time;
 * - when a token names a key (`kid`) the set does not have: a key rotation. At most one fetch per
 *   MIN_FETCH_INTERVAL_MS, whatever the tokens name, so a stream of made-up `kid`s costs the issuer
 *   one request per interval and the gateway nothing more.
 *
 * Every fetch is bounded (FETCH_LIMITS: time for the whole exchange, size of the answer) and
 * shared by every request that waits for it. An issuer that cannot be asked when nothing usable is
 * at hand makes the request 503 UNAVAILABLE, never a hang and never a "wrong password": the
 * client may try again. Only public keys of asymmetric algorithms are taken (`createLocalJWKSet`
 * refuses secret algorithms and private members).
 */
import type { Logger } from 'pino';
import { createLocalJWKSet, errors as joseErrors, type JWSHeaderParameters, type FlattenedJWSInput, type JWK } from 'jose';
import type { Dispatcher } from 'undici';
import { RegistryError } from '../../oci/errors.js';
import { InternalError } from '../../lib/internal-errors.js';
import { fetchJson } from './_json-fetch.js';

export const KEYS_TTL_MS = 10 * 60_000;
export const MAX_STALE_MS = 60 * 60_000;
export const MIN_FETCH_INTERVAL_MS = 5_000;
export const FETCH_LIMITS = { timeoutMs: 3_000, maxBytes: 128 * 1024 } as const;
const MAX_KEYS = 64;
/** The public members of the key types JWTs are signed with; anything else in a JWK is dropped. */
const PUBLIC_MEMBERS = ['kty', 'kid', 'use', 'alg', 'key_ops', 'n', 'e', 'crv', 'x', 'y'] as const;
const RETRY_AFTER_SECONDS = '5';

type Resolver = ReturnType<typeof createLocalJWKSet>;
type VerificationKey = Awaited<ReturnType<Resolver>>;

interface KeySet {
  readonly resolve: Resolver;
  readonly fetchedAt: number;
}

export interface IssuerKeysOptions {
  readonly issuer: string;
  readonly dispatcher: Dispatcher;
  readonly logger: Logger;
  /** Clock, for tests. */
  readonly now?: () => number;
}

function unavailable(): RegistryError {
  return new RegistryError('UNAVAILABLE', "the token issuer's keys are unavailable", { headers: { 'Retry-After': RETRY_AFTER_SECONDS } });
}

function malformed(url: URL, why: string): InternalError {
  return new InternalError('RG_ERR_ISSUER_UNAVAILABLE', `${url.origin}${url.pathname}: ${why}`);
}

function publicKeys(url: URL, document: unknown): JWK[] {
  const keys = (document as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) throw malformed(url, 'not a JWKS (no keys)');
  return keys.slice(0, MAX_KEYS).flatMap((key: unknown) => {
    if (typeof key !== 'object' || key === null || !['RSA', 'EC', 'OKP'].includes(String((key as JWK).kty))) return [];
    const entry = key as Record<string, unknown>;
    return [Object.fromEntries(PUBLIC_MEMBERS.filter((name) => entry[name] !== undefined).map((name) => [name, entry[name]]))];
  });
}

export class IssuerKeys {
  readonly issuer: string;
  readonly #options: IssuerKeysOptions;
  readonly #now: () => number;
  readonly #closed = new AbortController();
  #set: KeySet | undefined;
  #inFlight: Promise<KeySet> | undefined;
  #lastAttempt = -Infinity;

  constructor(options: IssuerKeysOptions) {
    this.issuer = options.issuer;
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** Starts fetching the keys now (at start-up), so the first token does not wait; failures are logged. */
  warm(): void {
    this.#refresh().catch(() => undefined);
  }

  /**
   * The key that verifies a token with this header, or 'unknown-key' when the issuer has none such
   * (after at most one bounded fetch); 'ambiguous-key' when several fit and the token names none.
   * Throws RegistryError UNAVAILABLE when the keys cannot be had.
   */
  async keyFor(header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<VerificationKey | 'unknown-key' | 'ambiguous-key'> {
    let set = await this.#usableSet();
    const found = await IssuerKeys.#match(set, header, token);
    if (found !== 'unknown-key') return found;
    if (this.#inFlight) set = await this.#waitFor(this.#inFlight);
    else if (this.#now() - this.#lastAttempt >= MIN_FETCH_INTERVAL_MS) set = await this.#waitFor(this.#refresh());
    else return 'unknown-key';
    return IssuerKeys.#match(set, header, token);
  }

  close(): void {
    this.#closed.abort();
  }

  /** The set at hand if it is fresh or stale within bounds (refreshed in the background then), else a fetched one. */
  async #usableSet(): Promise<KeySet> {
    const set = this.#set;
    const age = set ? this.#now() - set.fetchedAt : Infinity;
    if (set && age <= KEYS_TTL_MS) return set;
    if (set && age <= KEYS_TTL_MS + MAX_STALE_MS) {
      if (!this.#inFlight && this.#now() - this.#lastAttempt >= MIN_FETCH_INTERVAL_MS) this.#refresh().catch(() => undefined);
      return set;
    }
    if (this.#inFlight) return this.#waitFor(this.#inFlight);
    // An issuer that just failed is not asked again before the interval: every request meanwhile is 503 at once.
    if (this.#now() - this.#lastAttempt < MIN_FETCH_INTERVAL_MS) throw unavailable();
    return this.#waitFor(this.#refresh());
  }

  async #waitFor(fetching: Promise<KeySet>): Promise<KeySet> {
    try {
      return await fetching;
    } catch {
      throw unavailable();
    }
  }

  static async #match(set: KeySet, header: JWSHeaderParameters, token: FlattenedJWSInput) {
    try {
      return await set.resolve(header, token);
    } catch (error) {
      if (error instanceof joseErrors.JWKSNoMatchingKey) return 'unknown-key' as const;
      if (error instanceof joseErrors.JWKSMultipleMatchingKeys) return 'ambiguous-key' as const;
      if (error instanceof joseErrors.JOSEError) return 'unknown-key' as const;
      throw error;
    }
  }

  /** One fetch of discovery and JWKS, shared by every caller while it runs; the set replaces the old one when it succeeds. */
  #refresh(): Promise<KeySet> {
    if (this.#inFlight) return this.#inFlight;
    this.#lastAttempt = this.#now();
    const fetching = this.#load().then(
      (set) => {
        this.#set = set;
        return set;
      },
      (error: unknown) => {
        this.#options.logger.warn({ err: error, issuer: this.issuer }, 'the federated token issuer could not be asked for its keys');
        throw error;
      },
    );
    this.#inFlight = fetching.finally(() => {
      this.#inFlight = undefined;
    });
    this.#inFlight.catch(() => undefined);
    return this.#inFlight;
  }

  async #load(): Promise<KeySet> {
    const { dispatcher } = this.#options;
    const signal = this.#closed.signal;
    const discoveryUrl = new URL(`${this.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`);
    const discovery = (await fetchJson(discoveryUrl, dispatcher, FETCH_LIMITS, signal)) as Record<string, unknown> | null;
    if (discovery?.issuer !== this.issuer) throw malformed(discoveryUrl, 'its issuer is not the configured one');
    if (typeof discovery.jwks_uri !== 'string' || !URL.canParse(discovery.jwks_uri)) throw malformed(discoveryUrl, 'no jwks_uri');
    const jwksUrl = new URL(discovery.jwks_uri);
    const keys = publicKeys(jwksUrl, await fetchJson(jwksUrl, dispatcher, FETCH_LIMITS, signal));
    return { resolve: createLocalJWKSet({ keys }), fetchedAt: this.#now() };
  }
}
