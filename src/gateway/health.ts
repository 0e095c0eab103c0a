/**
 * `GET /healthz` (the process answers) and `GET /readyz` (it can serve: the storage is writable or
 * the upstream answers, and the directory answers when LDAP is configured), without credentials.
 *
 *   200 {"status":"ok"}
 *   503 {"status":"unavailable","failing":["upstream"]}
 *   200 {"status":"degraded","checks":{"redis":{"state":"down","since":"…","reason":"ECONNREFUSED"}}}
 *
 * With `redis` (state shared by replicas), /readyz also says how the shared Redis is; an outage is
 * `degraded`, not a failed check: every replica loses the same Redis at once, and a load balancer
 * that took them all out of rotation would refuse the logins, pulls and pushes that still work
 * (docs/replicas.md, "When Redis is unavailable"). Alert on `degraded` instead.
 *
 * Nothing else is said: no address, version or error text (the app log has those). Each check's
 * answer is kept for a short while and concurrent probes share one run, so a busy orchestrator
 * costs at most one storage access, one upstream request and one directory bind per check period.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RegistryError } from '../oci/errors.js';
import { sendJson } from '../oci/respond.js';
import { splitRequestTarget } from '../oci/request-target.js';
import type { RedisHealth } from '../redis/connection.js';

export const HEALTH_PATH = '/healthz';
export const READY_PATH = '/readyz';

/** One thing readiness depends on; `ready` resolves false (or rejects) when it is not. */
export interface ReadinessCheck {
  /** Named in `failing`: `storage`, `upstream`, `ldap`. */
  readonly name: string;
  ready(): Promise<boolean>;
}

export type HealthEndpoint = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/** The path of a health endpoint this request is for, or undefined. */
export function healthPath(url: string): typeof HEALTH_PATH | typeof READY_PATH | undefined {
  const { path } = splitRequestTarget(url);
  return path === HEALTH_PATH || path === READY_PATH ? path : undefined;
}

/** A check whose answer is reused for `ttlMs`; a run that takes longer than `timeoutMs` is a failure. */
export function cachedCheck(check: ReadinessCheck, ttlMs: number, timeoutMs: number): ReadinessCheck {
  let answer: { ok: boolean; at: number } | undefined;
  let running: Promise<boolean> | undefined;
  const runOnce = async (): Promise<boolean> => {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    try {
      return await Promise.race([check.ready().catch(() => false), timedOut]);
    } finally {
      clearTimeout(timer);
    }
  };
  return {
    name: check.name,
    ready() {
      if (answer && Date.now() - answer.at < ttlMs) return Promise.resolve(answer.ok);
      running ??= runOnce().then((ok) => {
        answer = { ok, at: Date.now() };
        running = undefined;
        return ok;
      });
      return running;
    },
  };
}

function sendStatus(res: ServerResponse, method: string, status: number, body: object): void {
  sendJson(res, method, status, body, { 'Cache-Control': 'no-store' });
}

export function createHealthEndpoint(
  checks: readonly ReadinessCheck[],
  shared: { readonly redis?: { health(): RedisHealth } | undefined } = {},
): HealthEndpoint {
  return async (req, res) => {
    const method = req.method ?? 'GET';
    if (method !== 'GET' && method !== 'HEAD')
      throw new RegistryError('UNSUPPORTED', `${method} is not supported here`, { headers: { Allow: 'GET, HEAD' } });
    if (healthPath(req.url ?? '') === HEALTH_PATH) {
      sendStatus(res, method, 200, { status: 'ok' });
      return;
    }
    const answers = await Promise.all(checks.map(async (check) => ({ name: check.name, ok: await check.ready() })));
    const failing = answers.filter((answer) => !answer.ok).map((answer) => answer.name);
    const redis = shared.redis?.health();
    const sharedState = redis ? { checks: { redis } } : {};
    if (failing.length > 0) sendStatus(res, method, 503, { status: 'unavailable', failing, ...sharedState });
    else sendStatus(res, method, 200, { status: redis && redis.state !== 'up' ? 'degraded' : 'ok', ...sharedState });
  };
}
