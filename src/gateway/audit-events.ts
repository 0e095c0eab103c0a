/** Which requests change state, and the audit record for one once its response is done. */
import type { ServerResponse } from 'node:http';
import type { AuditRecord } from '../access/audit.js';
import type { Identity } from '../auth/identity.js';
import type { Action } from '../access/policy.js';
import { isDigest, type Route } from './route.js';

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

export interface AuditFacts {
  readonly identity: Identity;
  readonly client: string;
  readonly method: string;
  readonly route: Route;
  readonly action: Action | 'mount' | 'catalog' | 'login';
  readonly decision: 'allow' | 'deny';
  readonly rule: number;
  readonly status: number;
  readonly responseDigest?: string | undefined;
  readonly reason?: string | undefined;
}

export function auditRecord(facts: AuditFacts): AuditRecord {
  const { route } = facts;
  const query = route.rawQuery ? new URLSearchParams(route.rawQuery) : undefined;
  const reference = route.kind === 'upload' ? undefined : route.reference || undefined;
  const requestDigest = query?.get('digest') ?? query?.get('mount') ?? (reference && isDigest(reference) ? reference : undefined);
  return {
    user: facts.identity.user,
    groups: facts.identity.groups,
    via: facts.identity.via,
    client: facts.client,
    method: facts.method,
    action: facts.action,
    repository: route.repository,
    reference,
    digest: facts.responseDigest ?? requestDigest ?? undefined,
    tag: route.kind === 'manifest' && reference && !isDigest(reference) ? reference : undefined,
    from: facts.action === 'mount' ? (query?.get('from') ?? undefined) : undefined,
    decision: facts.decision,
    rule: facts.rule,
    status: facts.status,
    reason: facts.reason,
  };
}

export function responseDigest(res: ServerResponse): string | undefined {
  const value = res.getHeader('docker-content-digest');
  return typeof value === 'string' ? value : undefined;
}

