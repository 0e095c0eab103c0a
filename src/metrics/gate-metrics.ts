/**
 * What registry-gate counts, in Prometheus terms (prom-client). One registry per running gate (not
 * prom-client's global one: tests run several gates in one process), made once at start and kept
 * across config reloads.
 *
 * Labels are small closed sets — the route kind, the method (unknown ones become `other`), the
 * status code, an outcome or a reason — and never a repository, a user, an address or anything a
 * client chose freely. Nothing is measured per chunk: byte counts are taken from the socket once a
 * request is done.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { CacheMetrics } from './cache-metrics.js';
import { EventsMetrics } from './events-metrics.js';
import { SyslogMetrics } from './syslog-metrics.js';

/** How a login with a password ended (Basic credentials or the token endpoint's password grant). */
export type LoginOutcome = 'cache_hit' | 'password_check' | 'failure' | 'throttled' | 'unavailable';
export type UpstreamErrorReason = 'unreachable' | 'timeout' | 'broken_body' | 'other';
export type TokenKind = 'access' | 'refresh';
export type ReloadResult = 'ok' | 'failed';
/** The cap a refused connection was over: `server.maxConnections` or `server.maxConnectionsPerClient`. */
export type ConnectionCap = 'total' | 'per_client';
/** The deadline that cut a connection: `server.handshakeTimeout` or `server.requestTimeout`. */
export type ConnectionDeadline = 'handshake' | 'request';

/** What a request was, for its labels: a route kind of /v2/, or one of the gateway's other endpoints. */
export type RequestKind = string;

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

export interface FinishedRequest {
  readonly kind: RequestKind;
  readonly method: string | undefined;
  readonly status: number;
  readonly seconds: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
}

export class GateMetrics {
  readonly registry = new Registry();
  /** The content cache's counters (src/backend/cache/). */
  readonly cache = new CacheMetrics(this.registry);
  /** The webhooks' counters (src/events/). */
  readonly events = new EventsMetrics(this.registry);
  /** The audit trail's syslog output (src/access/syslog/). */
  readonly auditSyslog = new SyslogMetrics(this.registry);
  readonly #requests = new Counter({
    name: 'registry_gate_requests_total',
    help: 'Requests answered, by route kind, method and status code.',
    labelNames: ['kind', 'method', 'status'] as const,
    registers: [this.registry],
  });
  readonly #duration = new Histogram({
    name: 'registry_gate_request_duration_seconds',
    help: 'Time from request to the end of the response, by route kind and method.',
    labelNames: ['kind', 'method'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly #bytesIn = new Counter({
    name: 'registry_gate_received_bytes_total',
    help: 'Bytes read from clients (headers and bodies), by route kind.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly #bytesOut = new Counter({
    name: 'registry_gate_sent_bytes_total',
    help: 'Bytes written to clients (headers and bodies), by route kind.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly #uploads = new Gauge({
    name: 'registry_gate_uploads_in_progress',
    help: 'Upload requests (POST, PATCH, PUT under blobs/uploads/) being served now.',
    registers: [this.registry],
  });
  readonly #logins = new Counter({
    name: 'registry_gate_logins_total',
    help: 'Logins with a user and password, by outcome: cache_hit, password_check (verified by a provider), failure, throttled, unavailable.',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly #upstreamErrors = new Counter({
    name: 'registry_gate_upstream_errors_total',
    help: 'Upstream requests that failed, by reason: unreachable, timeout, broken_body, other.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly #upstreamLatency = new Histogram({
    name: 'registry_gate_upstream_response_seconds',
    help: 'Time until the upstream answered with response headers, by method.',
    labelNames: ['method'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly #tokens = new Counter({
    name: 'registry_gate_tokens_issued_total',
    help: 'Tokens the token endpoint issued, by kind: access, refresh.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly #connectionsOpen = new Gauge({
    name: 'registry_gate_connections_open',
    help: 'Connections the registry listener holds now.',
    registers: [this.registry],
  });
  readonly #connectionsRefused = new Counter({
    name: 'registry_gate_connections_refused_total',
    help: 'Connections refused over a cap, by limit: total (server.maxConnections), per_client (server.maxConnectionsPerClient).',
    labelNames: ['limit'] as const,
    registers: [this.registry],
  });
  readonly #connectionsTimedOut = new Counter({
    name: 'registry_gate_connections_timed_out_total',
    help: 'Connections cut at a deadline, by deadline: handshake (server.handshakeTimeout), request (server.requestTimeout).',
    labelNames: ['deadline'] as const,
    registers: [this.registry],
  });
  readonly #reloads = new Counter({
    name: 'registry_gate_config_reloads_total',
    help: 'Config reloads (SIGHUP or a change of the config file), by result: ok, failed (the running config was kept).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  constructor() {
    // Zero series exist from the start, so a rate() sees the first event.
    for (const result of ['ok', 'failed'] as const) this.#reloads.inc({ result }, 0);
    for (const outcome of ['cache_hit', 'password_check', 'failure', 'throttled', 'unavailable'] as const) this.#logins.inc({ outcome }, 0);
    for (const limit of ['total', 'per_client'] as const) this.#connectionsRefused.inc({ limit }, 0);
    for (const deadline of ['handshake', 'request'] as const) this.#connectionsTimedOut.inc({ deadline }, 0);
  }

  /**
   * Adds the process metrics (CPU, memory, event loop, handles): only for a gate whose metrics are served.
   * prom-client's `nodejs_active_{handles,requests,resources}_total` are gauges with a counter's
   * suffix, which `promtool check metrics` rejects; they are dropped, as each equals the sum over
   * `type` of `nodejs_active_handles`, `nodejs_active_requests`, `nodejs_active_resources`.
   */
  collectProcessMetrics(): void {
    collectDefaultMetrics({ register: this.registry });
    for (const kind of ['handles', 'requests', 'resources']) this.registry.removeSingleMetric(`nodejs_active_${kind}_total`);
  }

  requestFinished(request: FinishedRequest): void {
    const method = request.method !== undefined && METHODS.has(request.method) ? request.method : 'other';
    this.#requests.inc({ kind: request.kind, method, status: String(request.status) });
    this.#duration.observe({ kind: request.kind, method }, request.seconds);
    if (request.bytesIn > 0) this.#bytesIn.inc({ kind: request.kind }, request.bytesIn);
    if (request.bytesOut > 0) this.#bytesOut.inc({ kind: request.kind }, request.bytesOut);
  }

  /** An upload request reached the backend; call the returned function once it is done. */
  uploadStarted(): () => void {
    this.#uploads.inc();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.#uploads.dec();
    };
  }

  login(outcome: LoginOutcome): void {
    this.#logins.inc({ outcome });
  }

  upstreamResponded(method: string, seconds: number): void {
    this.#upstreamLatency.observe({ method: METHODS.has(method) ? method : 'other' }, seconds);
  }

  upstreamFailed(reason: UpstreamErrorReason): void {
    this.#upstreamErrors.inc({ reason });
  }

  tokenIssued(kind: TokenKind): void {
    this.#tokens.inc({ kind });
  }

  connectionOpened(): void {
    this.#connectionsOpen.inc();
  }

  connectionClosed(): void {
    this.#connectionsOpen.dec();
  }

  connectionRefused(limit: ConnectionCap): void {
    this.#connectionsRefused.inc({ limit });
  }

  connectionTimedOut(deadline: ConnectionDeadline): void {
    this.#connectionsTimedOut.inc({ deadline });
  }

  configReloaded(result: ReloadResult): void {
    this.#reloads.inc({ result });
  }

  /** The exposition text, as Prometheus scrapes it. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
