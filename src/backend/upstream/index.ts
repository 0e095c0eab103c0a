/**
 * The streaming forwarder: sends an authorized request to the upstream registry over a pooled
 * keep-alive connection and streams both bodies with backpressure, never buffering them.
 *
 * Lifecycles: the client going away aborts the upstream request; the upstream breaking after the
 * response started destroys the client connection (never an end that looks complete); an upstream
 * that cannot be reached is answered quickly with an OCI error.
 */
import { readFileSync } from 'node:fs';
import { errnoCode } from '../../lib/errno.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import { Pool, type Dispatcher } from 'undici';
import type { Logger } from 'pino';
import { RegistryError } from '../../oci/errors.js';
import type { Backend, ContentReader, RequestContext } from '../backend.js';
import { clientResponseHeaders, upstreamRequestHeaders } from './forwarding-headers.js';
import { upstreamFailure, upstreamFailureReason } from './_failures.js';
import { fetchCatalogPage } from './_catalog.js';
import { MANIFEST_TYPES, upstreamContentReader } from './_content.js';
import { UpstreamTokens, upstreamAccessFor, type MintUpstreamToken, type UpstreamAccess, type UpstreamAuthMode } from './_token-auth.js';

export type { MintUpstreamToken, UpstreamAccess, UpstreamAuthMode } from './_token-auth.js';

export interface UpstreamOptions {
  readonly url: string;
  /** Idle timeout: the longest wait for response headers or between two body chunks. */
  readonly timeoutMs: number;
  readonly connections: number;
  readonly caFile?: string | undefined;
  /** More request headers to never forward (e.g. the SSO proxy's user and group headers). */
  readonly dropHeaders?: readonly string[];
  /** Whether the upstream checks tokens (`auth: token` in Distribution); `auto` asks it. Default none. */
  readonly auth?: UpstreamAuthMode;
  /** Signs the gateway's own tokens for an upstream in token mode. */
  readonly mintToken?: MintUpstreamToken;
  readonly logger: Logger;
  /** Told of each upstream answer and failure, for metrics. */
  readonly observer?: UpstreamObserver | undefined;
  /**
   * A mirror's registry (another party's): authenticated with `authorizer` (./challenge-tokens.ts),
   * sent none of the client's headers but what content negotiation needs, a 401 retried once with
   * fresh credentials, and its refusals (401, 403) answered as an unknown name, never passed on
   * with its challenge.
   */
  readonly mirror?: { readonly authorizer: (pool: Pool) => UpstreamAuthorizer } | undefined;
}

/** How requests to the registry behind are authenticated: the gateway's own tokens, or a mirror's credentials. */
export interface UpstreamAuthorizer {
  authorization(subject: string | null, access: readonly UpstreamAccess[]): Promise<string | undefined>;
  /** After an answer; true when a 401 made it drop what it had, so that one retry may succeed. */
  observe(statusCode: number, challenge: string | string[] | undefined, sent: boolean): boolean;
}

/** Client headers a mirror's registry gets: content negotiation and conditionals, nothing about the client. */
const MIRROR_REQUEST_HEADERS: ReadonlySet<string> = new Set([
  'accept',
  'range',
  'if-range',
  'if-none-match',
  'if-match',
  'if-modified-since',
  'user-agent',
]);

export interface UpstreamObserver {
  /** Response headers arrived after `seconds`. */
  responded(method: string, seconds: number): void;
  failed(reason: 'unreachable' | 'timeout' | 'broken_body' | 'other'): void;
}

/**
 * Request headers the gateway consumed and that must never travel upstream: the client's
 * credentials (a token-mode upstream gets the gateway's own token instead), cookies, Expect.
 */
export const DROPPED_REQUEST_HEADERS: ReadonlySet<string> = new Set(['authorization', 'cookie', 'expect']);

const CONNECT_TIMEOUT_MS = 10_000;
/** `/readyz`: an upstream that has not answered within this long is not ready. */
const READY_TIMEOUT_MS = 2_000;

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

/**
 * The body and its headers as the upstream gets them. Go's net/http parses a form body into the
 * very parameters Distribution reads from uploads (`mount`, `from`, `digest`, `_state`), and folds
 * Unicode case when it reads the media type: so an upload's body is only ever declared as bytes.
 */
function upstreamBody(
  req: IncomingMessage,
  context: RequestContext,
  headers: Record<string, string | string[]>,
): Buffer | IncomingMessage | null {
  const body = context.body ?? (hasBody(req) ? req : null);
  if (Buffer.isBuffer(body)) headers['content-length'] = String(body.length);
  if (context.route.kind === 'upload-start' || context.route.kind === 'upload') {
    delete headers['content-type'];
    if (body !== null && !(Buffer.isBuffer(body) && body.length === 0)) headers['content-type'] = 'application/octet-stream';
  }
  return body;
}

/** Where an answer's body goes that the client does not get. */
function discardedBody(): Writable {
  return new Writable({ write: (_chunk, _encoding, done) => done() });
}

/**
 * A 416 from the upstream, answered by the gateway as an OCI error instead of forwarded:
 * Distribution 2.8 sends it as plain text under the blob's Content-Length, so the client got a
 * short body and a broken connection. Its body is read and dropped.
 */
class RangeRefused {
  readonly sink = discardedBody();
  constructor(private readonly contentRange: string | string[] | undefined) {}

  error(): RegistryError {
    const range = typeof this.contentRange === 'string' && /^bytes \*\/\d{1,15}$/.test(this.contentRange) ? this.contentRange : undefined;
    const size = range === undefined ? undefined : Number(range.slice('bytes */'.length));
    return new RegistryError('RANGE_INVALID', undefined, {
      ...(range === undefined ? {} : { headers: { 'Content-Range': range }, detail: { size } }),
    });
  }
}

export class UpstreamBackend implements Backend {
  readonly name = 'upstream';
  readonly listTags: ContentReader['listTags'];
  readonly readManifest: ContentReader['readManifest'];
  readonly readBlob: ContentReader['readBlob'];
  readonly listReferrers: ContentReader['listReferrers'];
  readonly deleteManifest: ContentReader['deleteManifest'];
  readonly #pool: Pool;
  readonly #logger: Logger;
  readonly #dropped: ReadonlySet<string>;
  readonly #tokens: UpstreamAuthorizer;
  readonly #observer: UpstreamObserver | undefined;
  readonly #mirror: boolean;

  constructor(options: UpstreamOptions) {
    this.#observer = options.observer;
    // Every upstream log line names the upstream (its origin: never userinfo from the URL).
    this.#logger = options.logger.child({ upstream: new URL(options.url).origin });
    this.#dropped = new Set([...DROPPED_REQUEST_HEADERS, ...(options.dropHeaders ?? []).map((name) => name.toLowerCase())]);
    this.#pool = new Pool(options.url, {
      connections: options.connections,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      connect: { timeout: CONNECT_TIMEOUT_MS, ...(options.caFile ? { ca: readFileSync(options.caFile) } : {}) },
    });
    this.#mirror = options.mirror !== undefined;
    this.#tokens = options.mirror
      ? options.mirror.authorizer(this.#pool)
      : new UpstreamTokens(this.#pool, options.auth ?? 'none', options.mintToken);
    const content = upstreamContentReader(
      this.#pool,
      (access, accept) => this.#ownHeaders(access, accept),
      (error, path) => upstreamFailure(error, this.#logger, path),
    );
    ({
      listTags: this.listTags,
      readManifest: this.readManifest,
      readBlob: this.readBlob,
      listReferrers: this.listReferrers,
      deleteManifest: this.deleteManifest,
    } = content);
  }

  /** An upstream failure as the client's error; logged and counted. */
  #failure(error: unknown, path: string): RegistryError {
    if (error instanceof RegistryError) return error; // said already (a mirror's token service)
    this.#observer?.failed(upstreamFailureReason(error));
    return upstreamFailure(error, this.#logger, path);
  }

  /** Headers for the gateway's own requests, with a token when the upstream is in token mode. */
  async #ownHeaders(access: Parameters<UpstreamTokens['authorization']>[1], accept: string): Promise<Record<string, string>> {
    const authorization = await this.#tokens.authorization(null, access).catch((error: unknown) => {
      throw this.#failure(error, '/v2/');
    });
    return authorization ? { accept, authorization } : { accept };
  }

  async handle(req: IncomingMessage, res: ServerResponse, context: RequestContext): Promise<void> {
    const abort = new AbortController();
    const onClose = () => {
      if (!res.writableFinished) abort.abort();
    };
    res.once('close', onClose);
    try {
      // A mirror's registry may refuse a token that expired early: asked once more, with a fresh one.
      const retryable = this.#mirror && (req.method === 'GET' || req.method === 'HEAD');
      let outcome = await this.#streamOnce(req, res, context, abort.signal);
      if (outcome === 'retry' && retryable) outcome = await this.#streamOnce(req, res, context, abort.signal);
      if (outcome === 'retry' || outcome === 'refused')
        throw new RegistryError(
          'NAME_UNKNOWN',
          'the mirrored registry does not have this repository, or does not let this gateway read it',
        );
    } finally {
      res.off('close', onClose);
    }
  }

  /** The request for the client's, once; 'retry': a mirror's 401 that fresh credentials may pass; 'refused': its 403. */
  async #streamOnce(
    req: IncomingMessage,
    res: ServerResponse,
    context: RequestContext,
    signal: AbortSignal,
  ): Promise<'retry' | 'refused' | undefined> {
    const { route } = context;
    const method = req.method ?? 'GET';
    let authorization: string | undefined;
    let asked = 0;
    let answered = false;
    let rangeRefused: RangeRefused | undefined;
    let refused: 'retry' | 'refused' | undefined;
    try {
      const headers = this.#requestHeaders(req, context);
      authorization = await this.#tokens.authorization(context.identity.user, upstreamAccessFor(route, method));
      if (authorization) headers.authorization = authorization;
      asked = performance.now();
      // undici's stream(): each body chunk is written to the client's response as the upstream
      // socket delivers it, and that socket pauses while the response needs to drain; no readable
      // stream in between to buffer, emit and pipe every chunk (docs/benchmarks.md).
      await this.#pool.stream(
        {
          path: route.rawQuery ? `${route.path}?${route.rawQuery}` : route.path,
          method,
          headers,
          body: upstreamBody(req, context, headers),
          signal,
          // undici closes the connection after a HEAD unless told not to; registries answer HEAD without a body.
          reset: false,
        },
        ({ statusCode, headers: upstreamHeaders }) => {
          this.#observer?.responded(method, (performance.now() - asked) / 1000);
          const retry = this.#tokens.observe(statusCode, upstreamHeaders['www-authenticate'], authorization !== undefined);
          if (this.#mirror && (statusCode === 401 || statusCode === 403)) {
            refused = retry ? 'retry' : 'refused';
            return discardedBody(); // its challenge is the mirrored registry's, not the client's
          }
          if (statusCode === 416) return (rangeRefused = new RangeRefused(upstreamHeaders['content-range'])).sink;
          // setHeader (not writeHead's object) so the pipeline can read e.g. Docker-Content-Digest for the audit trail.
          for (const [name, value] of Object.entries(clientResponseHeaders(upstreamHeaders)))
            if (value !== undefined) res.setHeader(name, value);
          res.writeHead(statusCode);
          answered = true;
          return res;
        },
      );
    } catch (error) {
      if (signal.aborted) return undefined;
      if (rangeRefused) throw rangeRefused.error();
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- set in the response factory above
      if (!answered) throw this.#failure(error, route.path);
      // undici destroyed `res`: the client sees a broken connection, not a short body.
      this.#observer?.failed('broken_body');
      this.#logger.warn({ err: { code: errnoCode(error) }, path: route.path }, 'upstream response broke mid-body');
      res.destroy();
    }
    if (rangeRefused) throw rangeRefused.error();
    return refused;
  }

  /** The client's headers for the upstream; for a mirror's registry, only those content negotiation needs. */
  #requestHeaders(req: IncomingMessage, context: RequestContext): Record<string, string | string[]> {
    const facts = { peer: context.peer, peerTrusted: context.peerTrusted, scheme: context.scheme };
    const headers = upstreamRequestHeaders(req.headers, facts, this.#dropped);
    if (!this.#mirror) return headers;
    for (const name of Object.keys(headers)) if (!MIRROR_REQUEST_HEADERS.has(name)) Reflect.deleteProperty(headers, name);
    return headers;
  }

  /**
   * One request of the gateway's own for a repository's content (the content cache's fills and
   * reference checks): a pull token where the upstream checks tokens, never the client's
   * credentials. The caller reads or dumps the body; a failure to get an answer is a RegistryError.
   */
  async fetchContent(
    repository: string,
    path: string,
    method: 'GET' | 'HEAD',
    accept: string,
    signal?: AbortSignal,
  ): Promise<Dispatcher.ResponseData> {
    const send = async () => {
      const headers = await this.#ownHeaders([{ type: 'repository', name: repository, actions: ['pull'] }], accept);
      return this.#pool.request({ path, method, headers, reset: false, ...(signal ? { signal } : {}) }).catch((error: unknown) => {
        throw this.#failure(error, path);
      });
    };
    const response = await send();
    if (!this.#tokens.observe(response.statusCode, response.headers['www-authenticate'], true)) return response;
    await response.body.dump(); // a token that expired early, or a realm that changed: once more, afresh
    return send();
  }

  async listRepositories(after: string | undefined, limit: number): Promise<string[]> {
    const headers = await this.#ownHeaders([{ type: 'registry', name: 'catalog', actions: ['*'] }], 'application/json');
    return fetchCatalogPage(this.#pool, after, limit, headers).catch((error: unknown) => {
      throw error instanceof RegistryError ? error : this.#failure(error, '/v2/_catalog');
    });
  }

  async manifestDigest(repository: string, reference: string): Promise<string | undefined> {
    const path = `/v2/${repository}/manifests/${reference}`;
    const headers = await this.#ownHeaders([{ type: 'repository', name: repository, actions: ['pull'] }], MANIFEST_TYPES);
    const response = await this.#pool.request({ path, method: 'HEAD', headers }).catch((error: unknown) => {
      throw this.#failure(error, path);
    });
    await response.body.dump();
    const digest = response.headers['docker-content-digest'];
    if (response.statusCode === 200 && typeof digest === 'string') return digest;
    if (response.statusCode === 404) return undefined;
    throw new RegistryError('UPSTREAM_ERROR', `the upstream answered ${response.statusCode} to a manifest check`);
  }

  /** Any HTTP answer to `GET /v2/` means the upstream is there (401 included); no answer in time means it is not. */
  async ready(): Promise<boolean> {
    try {
      const response = await this.#pool.request({
        path: '/v2/',
        method: 'GET',
        signal: AbortSignal.timeout(READY_TIMEOUT_MS),
        headersTimeout: READY_TIMEOUT_MS,
        bodyTimeout: READY_TIMEOUT_MS,
      });
      await response.body.dump();
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await this.#pool.close();
  }
}
