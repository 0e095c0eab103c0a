/**
 * What the pipeline audits, beside the records themselves (src/access/audit-records.ts, which the
 * web UI builds too): which requests change state, the digest an answer names, and the user name a
 * refused login tried.
 */
import type { ServerResponse } from 'node:http';
import { parseBasicAuthorization } from '../auth/authorization-header.js';
import { type Route } from '../oci/route.js';

/** The audited action for a state-changing request, or undefined for reads and intermediate upload steps. */
export function stateChange(route: Route, method: string): 'push' | 'delete' | 'mount' | undefined {
  if (method === 'DELETE' && (route.kind === 'manifest' || route.kind === 'blob')) return 'delete';
  if (method === 'PUT' && (route.kind === 'manifest' || route.kind === 'upload')) return 'push';
  if (method === 'POST' && route.kind === 'upload-start') {
    const query = new URLSearchParams(route.rawQuery);
    if (query.has('mount') && query.has('from')) return 'mount';
    if (query.has('digest')) return 'push';
  }
  return undefined;
}

export function responseDigest(res: ServerResponse): string | undefined {
  const value = res.getHeader('docker-content-digest');
  return typeof value === 'string' ? value : undefined;
}

/** The user name of Basic credentials (never anything of the password), or the SSO proxy's claim; null for neither. */
export function triedUserName(authorization: string | undefined, ssoUser?: string): string | null {
  if (ssoUser !== undefined) return ssoUser;
  const credentials = parseBasicAuthorization(authorization);
  return typeof credentials === 'object' ? credentials.user : null;
}
