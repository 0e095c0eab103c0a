/**
 * Authenticating to an upstream registry in `auth: token` mode (a Distribution that trusts
 * registry-gate's signing key). The client's own Authorization never travels upstream, whether a
 * password or a token: the gateway has decided the request already, so it signs a short-lived token
 * of its own that covers exactly what the upstream will check for this request (Distribution's
 * `appendAccessRecords`: GET/HEAD pull; POST/PUT/PATCH pull and push; DELETE delete; a mount's
 * `from` pull; the catalog `registry:catalog:*`). The gateway's own questions (a protected tag's
 * digest, catalog pages) get such tokens too.
 *
 * `auth: auto` asks the upstream once (`GET /v2/` without credentials: a `Bearer` challenge means
 * token mode) and asks again when an upstream answers a request sent without a token with one.
 * Tokens are cached per subject and access for half their lifetime.
 */
import type { Pool } from 'undici';
import type { Route } from '../../oci/route.js';

export type UpstreamAuthMode = 'auto' | 'none' | 'token';

export interface UpstreamAccess {
  readonly type: string;
  readonly name: string;
  readonly actions: readonly string[];
}

/** Signs an access token for the upstream; `subject` null for an anonymous caller. */
export type MintUpstreamToken = (
  subject: string | null,
  access: readonly UpstreamAccess[],
) => Promise<{ token: string; expiresInMs: number }>;

const MAX_CACHED = 1024;
const PROBE_TIMEOUT_MS = 10_000;

/** What the upstream will check for this request, as Distribution derives it from method and path. */
export function upstreamAccessFor(route: Route, method: string): UpstreamAccess[] {
  if (route.kind === 'catalog') return [{ type: 'registry', name: 'catalog', actions: ['*'] }];
  if (route.kind === 'base') return [];
  const actions = method === 'GET' || method === 'HEAD' ? ['pull'] : method === 'DELETE' ? ['delete'] : ['pull', 'push'];
  const access: UpstreamAccess[] = [{ type: 'repository', name: route.repository, actions }];
  const from = route.kind === 'upload-start' ? new URLSearchParams(route.rawQuery).get('from') : null;
  if (from) access.push({ type: 'repository', name: from, actions: ['pull'] });
  return access;
}

export function isBearerChallenge(header: string | string[] | undefined): boolean {
  const value = Array.isArray(header) ? header.join(',') : (header ?? '');
  return /^\s*bearer\b/i.test(value);
}

export class UpstreamTokens {
  readonly #pool: Pool;
  readonly #mode: UpstreamAuthMode;
  readonly #mint: MintUpstreamToken | undefined;
  readonly #cache = new Map<string, { header: string; renewAt: number }>();
  #detected: Promise<boolean> | undefined;

  constructor(pool: Pool, mode: UpstreamAuthMode, mint: MintUpstreamToken | undefined) {
    this.#pool = pool;
    this.#mode = mint ? mode : 'none';
    this.#mint = mint;
  }

  /** The Authorization header for a request needing `access`, or undefined when the upstream checks none. */
  async authorization(subject: string | null, access: readonly UpstreamAccess[]): Promise<string | undefined> {
    if (!this.#mint || !(await this.#tokenMode())) return undefined;
    const key = `${subject ?? ''}\n${access.map((entry) => `${entry.type}:${entry.name}:${entry.actions.join(',')}`).join(' ')}`;
    const now = Date.now();
    const cached = this.#cache.get(key);
    if (cached && cached.renewAt > now) return cached.header;
    const { token, expiresInMs } = await this.#mint(subject, access);
    if (this.#cache.size >= MAX_CACHED) this.#cache.clear();
    const header = `Bearer ${token}`;
    this.#cache.set(key, { header, renewAt: now + expiresInMs / 2 });
    return header;
  }

  /** After an upstream answer: a token challenge to a request sent without a token means token mode is new. Never asks for a retry. */
  observe(statusCode: number, challenge: string | string[] | undefined, sentToken: boolean): boolean {
    if (this.#mode === 'auto' && statusCode === 401 && !sentToken && isBearerChallenge(challenge)) this.#detected = undefined;
    return false;
  }

  #tokenMode(): Promise<boolean> {
    if (this.#mode !== 'auto') return Promise.resolve(this.#mode === 'token');
    this.#detected ??= this.#probe().catch((error: unknown) => {
      this.#detected = undefined; // unreachable now: ask again next time
      throw error;
    });
    return this.#detected;
  }

  async #probe(): Promise<boolean> {
    const response = await this.#pool.request({
      path: '/v2/',
      method: 'GET',
      headersTimeout: PROBE_TIMEOUT_MS,
      bodyTimeout: PROBE_TIMEOUT_MS,
    });
    await response.body.dump();
    return response.statusCode === 401 && isBearerChallenge(response.headers['www-authenticate']);
  }
}
