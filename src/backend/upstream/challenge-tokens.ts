/**
 * The gateway as a client of another registry's authentication (a mirror's registry): what the
 * docker CLI does against Docker Hub. `GET /v2/` tells how the registry checks:
 *
 *   200                                  nothing to send
 *   401 Basic realm=…                    the mirror's credentials as Basic, with every request
 *   401 Bearer realm=…,service=…         a token from the realm for each scope
 *                                        (`repository:<name>:pull`), anonymous or with the
 *                                        mirror's credentials as Basic, kept until near its expiry
 *
 * A 401 later (a token that expired early, a realm that changed) drops what was kept and asks
 * again; the caller retries once. This is not `_token-auth.ts`, which signs tokens of the gateway's
 * own for a registry that trusts its key.
 *
 * The realm is where the credentials go, and the registry names it: it must be https, or http on a
 * loopback address (tests, a registry on the same machine). Its answer must come within
 * TOKEN_TIMEOUT_MS and be at most MAX_TOKEN_RESPONSE_BYTES; a redirect is not followed (undici's
 * request follows none). Nothing
 * of a token or a password is ever logged or put in an error.
 */
import { request, type Dispatcher, type Pool } from 'undici';
import { RegistryError } from '../../oci/errors.js';
import type { UpstreamAccess } from './_token-auth.js';

export const TOKEN_TIMEOUT_MS = 10_000;
export const MAX_TOKEN_RESPONSE_BYTES = 64 * 1024;
const PROBE_TIMEOUT_MS = 10_000;
/** A token is renewed this long before it expires (or at half its life, if shorter). */
const RENEW_MARGIN_MS = 30_000;
/** Docker's token spec: a token without `expires_in` lives 60 s. */
const DEFAULT_EXPIRES_IN_S = 60;
const MAX_CACHED = 1024;

export interface RegistryCredentials {
  readonly username: string;
  readonly password: string;
}

type Challenge = { scheme: 'none' } | { scheme: 'basic' } | { scheme: 'bearer'; realm: URL; service: string | undefined };

/** `key="value"` pairs of a challenge's parameters (RFC 9110 §11.2), quoted or token values. */
function challengeParameters(text: string): Map<string, string> {
  const parameters = new Map<string, string>();
  for (const match of text.matchAll(/([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]+))/g)) {
    const name = (match[1] as string).toLowerCase();
    if (!parameters.has(name)) parameters.set(name, (match[2] ?? match[3] ?? '').replace(/\\(.)/g, '$1'));
  }
  return parameters;
}

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\]|localhost)$/;

/** The realm, if credentials may be sent there: https, or http on loopback. */
export function acceptableRealm(value: string | undefined): URL | undefined {
  if (value === undefined) return undefined;
  let realm: URL;
  try {
    realm = new URL(value);
  } catch {
    return undefined;
  }
  if (realm.username !== '' || realm.password !== '' || realm.hash !== '') return undefined;
  if (realm.protocol === 'https:') return realm;
  return realm.protocol === 'http:' && LOOPBACK.test(realm.hostname) ? realm : undefined;
}

/** What a `WWW-Authenticate` header asks for; undefined for a Bearer challenge whose realm is refused. */
export function parseChallenge(header: string | string[] | undefined): Challenge | undefined {
  const value = (Array.isArray(header) ? header.join(', ') : (header ?? '')).trim();
  if (/^basic\b/i.test(value)) return { scheme: 'basic' };
  if (!/^bearer\b/i.test(value)) return { scheme: 'none' };
  const parameters = challengeParameters(value.slice('bearer'.length));
  const realm = acceptableRealm(parameters.get('realm'));
  return realm && { scheme: 'bearer', realm, service: parameters.get('service') };
}

function realmRefused(): RegistryError {
  return new RegistryError('UPSTREAM_ERROR', 'the mirrored registry names a token service this gateway does not send credentials to');
}

function tokenRefused(status: number): RegistryError {
  return new RegistryError('UPSTREAM_ERROR', `the mirrored registry's token service answered ${status}`);
}

/** The token service's answer, read to at most MAX_TOKEN_RESPONSE_BYTES. */
async function readTokenAnswer(body: Dispatcher.ResponseData['body']): Promise<{ token: string; expiresInS: number }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_TOKEN_RESPONSE_BYTES) {
      body.destroy();
      throw new RegistryError('UPSTREAM_ERROR', "the mirrored registry's token answer is too large");
    }
    chunks.push(chunk);
  }
  let parsed: { token?: unknown; access_token?: unknown; expires_in?: unknown };
  try {
    parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof parsed;
  } catch {
    throw new RegistryError('UPSTREAM_ERROR', "the mirrored registry's token answer is not JSON");
  }
  const token = typeof parsed.token === 'string' ? parsed.token : parsed.access_token;
  if (typeof token !== 'string' || !/^[\w.~+/=-]{1,16384}$/.test(token))
    throw new RegistryError('UPSTREAM_ERROR', "the mirrored registry's token answer has no usable token");
  const expiresIn = typeof parsed.expires_in === 'number' && parsed.expires_in > 0 ? parsed.expires_in : DEFAULT_EXPIRES_IN_S;
  return { token, expiresInS: Math.min(expiresIn, 86_400) };
}

export class ChallengeTokens {
  readonly #pool: Pool;
  readonly #credentials: RegistryCredentials | undefined;
  readonly #dispatcher: Dispatcher | undefined;
  readonly #tokens = new Map<string, { header: string; renewAt: number }>();
  #challenge: Promise<Challenge> | undefined;

  /** `dispatcher`: for the realm's TLS (the mirror's `ca`); default undici's global one. */
  constructor(pool: Pool, credentials: RegistryCredentials | undefined, dispatcher?: Dispatcher) {
    this.#pool = pool;
    this.#credentials = credentials;
    this.#dispatcher = dispatcher;
  }

  #basic(): string | undefined {
    const credentials = this.#credentials;
    return credentials && `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
  }

  /** The Authorization header for a request needing `access`, or undefined when the registry checks nothing. */
  async authorization(_subject: string | null, access: readonly UpstreamAccess[]): Promise<string | undefined> {
    const challenge = await this.#currentChallenge();
    if (challenge.scheme === 'none') return undefined;
    if (challenge.scheme === 'basic') return this.#basic();
    const scopes = access.map((entry) => `${entry.type}:${entry.name}:${entry.actions.join(',')}`);
    const key = scopes.join(' ');
    const cached = this.#tokens.get(key);
    if (cached && cached.renewAt > Date.now()) return cached.header;
    const { token, expiresInS } = await this.#fetchToken(challenge, scopes);
    const lifeMs = expiresInS * 1000;
    if (this.#tokens.size >= MAX_CACHED) this.#tokens.clear();
    const header = `Bearer ${token}`;
    this.#tokens.set(key, { header, renewAt: Date.now() + Math.min(lifeMs - RENEW_MARGIN_MS, lifeMs / 2) });
    return header;
  }

  /** After an answer: a 401 drops the challenge and the tokens; true when a retry may now succeed. */
  observe(statusCode: number, challenge: string | string[] | undefined, sent: boolean): boolean {
    if (statusCode !== 401) return false;
    const fresh = parseChallenge(challenge);
    this.#challenge = fresh ? Promise.resolve(fresh) : undefined;
    this.#tokens.clear();
    // Sent nothing and told "basic" or "bearer": asking with credentials may help. Sent something: once more, afresh.
    return sent || (fresh !== undefined && fresh.scheme !== 'none');
  }

  #currentChallenge(): Promise<Challenge> {
    this.#challenge ??= this.#probe().catch((error: unknown) => {
      this.#challenge = undefined; // unreachable now: ask again next time
      throw error;
    });
    return this.#challenge;
  }

  async #probe(): Promise<Challenge> {
    const response = await this.#pool.request({
      path: '/v2/',
      method: 'GET',
      headersTimeout: PROBE_TIMEOUT_MS,
      bodyTimeout: PROBE_TIMEOUT_MS,
    });
    await response.body.dump();
    if (response.statusCode !== 401) return { scheme: 'none' };
    const challenge = parseChallenge(response.headers['www-authenticate']);
    if (!challenge) throw realmRefused();
    return challenge;
  }

  async #fetchToken(
    challenge: Extract<Challenge, { scheme: 'bearer' }>,
    scopes: readonly string[],
  ): Promise<{ token: string; expiresInS: number }> {
    const url = new URL(challenge.realm);
    if (challenge.service !== undefined) url.searchParams.set('service', challenge.service);
    for (const scope of scopes) url.searchParams.append('scope', scope);
    const basic = this.#basic();
    const response = await request(url, {
      method: 'GET',
      headers: { accept: 'application/json', ...(basic ? { authorization: basic } : {}) },
      headersTimeout: TOKEN_TIMEOUT_MS,
      bodyTimeout: TOKEN_TIMEOUT_MS,
      signal: AbortSignal.timeout(TOKEN_TIMEOUT_MS),
      ...(this.#dispatcher ? { dispatcher: this.#dispatcher } : {}),
    }).catch(() => {
      // Not the cause: its message could carry the realm's query (the scopes), and never more is needed.
      throw new RegistryError('UNAVAILABLE', "the mirrored registry's token service cannot be reached", {
        headers: { 'Retry-After': '5' },
      });
    });
    if (response.statusCode !== 200) {
      await response.body.dump().catch(() => undefined);
      throw tokenRefused(response.statusCode);
    }
    return readTokenAnswer(response.body);
  }
}
