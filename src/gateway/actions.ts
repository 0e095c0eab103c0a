/** Which action a request needs, and what kind of transfer it is, from its route and method. */
import type { Action } from '../oci/actions.js';
import type { Route } from '../oci/route.js';

export type RequiredAccess =
  { kind: 'authenticate-only' } | { kind: 'catalog' } | { kind: 'action'; action: Action } | { kind: 'unsupported' };

const READ = new Set(['GET', 'HEAD']);

export function requiredAccess(route: Route, method: string): RequiredAccess {
  switch (route.kind) {
    case 'base':
      return READ.has(method) ? { kind: 'authenticate-only' } : { kind: 'unsupported' };
    case 'catalog':
      return READ.has(method) ? { kind: 'catalog' } : { kind: 'unsupported' };
    case 'tags':
    case 'referrers':
      return READ.has(method) ? { kind: 'action', action: 'pull' } : { kind: 'unsupported' };
    case 'upload-start':
      return method === 'POST' ? { kind: 'action', action: 'push' } : { kind: 'unsupported' };
    case 'upload':
      // Status, chunks, completion and cancellation of an upload are all part of pushing.
      return ['GET', 'HEAD', 'PATCH', 'PUT', 'DELETE'].includes(method) ? { kind: 'action', action: 'push' } : { kind: 'unsupported' };
    case 'manifest':
    case 'blob':
      if (READ.has(method)) return { kind: 'action', action: 'pull' };
      if (method === 'DELETE') return { kind: 'action', action: 'delete' };
      if (method === 'PUT' && route.kind === 'manifest') return { kind: 'action', action: 'push' };
      return { kind: 'unsupported' };
  }
}

/** Requests that carry a blob upload's body (or start or finish one). */
export function isUpload(route: Route, method: string): boolean {
  return (route.kind === 'upload' || route.kind === 'upload-start') && (method === 'POST' || method === 'PATCH' || method === 'PUT');
}

/**
 * Blob transfers (downloads and uploads) run for as long as they move data, under the idle timeout;
 * every other request must be done within `server.requestTimeout`.
 */
export function isBlobTransfer(route: Route, method: string): boolean {
  return isUpload(route, method) || (route.kind === 'blob' && method === 'GET');
}
