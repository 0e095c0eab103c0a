/** Which action a request needs, from its route and method. */
import type { Action } from '../access/policy.js';
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
