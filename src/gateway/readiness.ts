/**
 * `GET /readyz`: whether this replica serves, and the state of what it shares with the others,
 * for load balancers and operators. No authentication, and nothing in it a client could not learn
 * from the gateway's behaviour.
 *
 *   200 {"status":"ready","checks":{"redis":{"state":"up","since":"…"}}}
 *   200 {"status":"degraded","checks":{"redis":{"state":"down","since":"…","reason":"ECONNREFUSED"}}}
 *
 * A Redis outage is reported, not turned into a failed check: every replica loses the same Redis at
 * once, and a load balancer that took them all out of rotation would refuse the logins, pulls and
 * pushes that still work (see README, "More than one machine"). Alert on `degraded` instead.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RegistryError, sendError } from '../errors.js';
import type { RedisHealth } from '../redis/connection.js';

export const READINESS_PATH = '/readyz';

export function isReadinessPath(url: string): boolean {
  return url === READINESS_PATH || url.startsWith(`${READINESS_PATH}?`);
}

export interface ReadinessSources {
  /** The shared Redis, when configured. */
  readonly redis?: { health(): RedisHealth } | undefined;
}

export type ReadinessEndpoint = (req: IncomingMessage, res: ServerResponse) => void;

export function createReadinessEndpoint(sources: ReadinessSources): ReadinessEndpoint {
  return (req, res) => {
    const method = req.method ?? 'GET';
    if (method !== 'GET' && method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      sendError(res, new RegistryError('UNSUPPORTED', `${method} is not supported here`), method);
      return;
    }
    const checks: Record<string, RedisHealth> = {};
    if (sources.redis) checks.redis = sources.redis.health();
    const degraded = Object.values(checks).some((check) => check.state !== 'up');
    const body = JSON.stringify({ status: degraded ? 'degraded' : 'ready', checks });
    res.statusCode = 200;
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Content-Length', Buffer.byteLength(body));
    res.end(method === 'HEAD' ? undefined : body);
  };
}
