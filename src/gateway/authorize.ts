/**
 * The decision stage for one routed request: which action it needs, whether the policy grants it
 * (asking the backend whether a protected tag exists only when a rule needs to know), and the
 * route the backend may act on (cross-repository mount parameters removed when the source may not
 * be read). It answers with values; the pipeline turns a refusal into 401 or 403.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Identity } from '../auth/identity.js';
import type { AccessPolicy, Action, Decision } from '../access/policy.js';
import type { Backend } from '../backend/backend.js';
import { RegistryError } from '../errors.js';
import { isDigest, type Route } from './route.js';
import { withoutUnauthorizedMount } from './mount.js';

export interface Authorized {
  readonly decision: Decision;
  readonly action: Action;
  /** The route for the backend: identical to the request's except for removed mount parameters. */
  readonly route: Route;
}

/** Go's net/http (Distribution) reads POST form bodies as parameters: a `from` there would bypass our check. */
function isFormBody(headers: IncomingHttpHeaders): boolean {
  const type = (headers['content-type'] ?? '').toLowerCase();
  return type.startsWith('application/x-www-form-urlencoded') || type.startsWith('multipart/form-data');
}

export async function authorizeRequest(
  route: Route,
  action: Action,
  method: string,
  identity: Identity,
  headers: IncomingHttpHeaders,
  policy: AccessPolicy,
  backend: Backend,
): Promise<Authorized> {
  let decision: Decision;
  if (route.kind === 'manifest' && (method === 'PUT' || method === 'DELETE')) {
    const target = isDigest(route.reference) ? { digest: route.reference } : { tag: route.reference };
    decision = await policy.decideManifest(identity, route.repository, action, target, () => backend.hasManifest(route.repository, route.reference));
  } else {
    decision = policy.decide(identity, route.repository, action);
  }
  if (!decision.allowed || route.kind !== 'upload-start') return { decision, action, route };
  if (isFormBody(headers)) throw new RegistryError('BLOB_UPLOAD_INVALID', 'upload parameters must be in the query string, not a form body');
  return { decision, action, route: withoutUnauthorizedMount(route, identity, policy) };
}
