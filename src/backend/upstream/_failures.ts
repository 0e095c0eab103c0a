/** Upstream transport failures as OCI errors, without leaking internal addresses to the client. */
import type { Logger } from 'pino';
import { errnoCode } from '../../lib/errno.js';
import { RegistryError } from '../../oci/errors.js';

const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);
const TIMEOUT = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/** What kind of failure this was, for the upstream error counter. */
export function upstreamFailureReason(error: unknown): 'unreachable' | 'timeout' | 'other' {
  const code = errnoCode(error) ?? 'UNKNOWN';
  return UNREACHABLE.has(code) ? 'unreachable' : TIMEOUT.has(code) ? 'timeout' : 'other';
}

/** `logger` carries the upstream's URL (UpstreamBackend binds it); `path` is the request path, without its query. */
export function upstreamFailure(error: unknown, logger: Logger, path: string): RegistryError {
  const code = errnoCode(error) ?? 'UNKNOWN';
  logger.warn({ upstreamError: code, path }, 'upstream request failed');
  if (UNREACHABLE.has(code)) {
    return new RegistryError('UNAVAILABLE', 'the upstream registry is unavailable', { headers: { 'Retry-After': '5' } });
  }
  if (TIMEOUT.has(code)) return new RegistryError('UPSTREAM_TIMEOUT');
  return new RegistryError('UPSTREAM_ERROR');
}
