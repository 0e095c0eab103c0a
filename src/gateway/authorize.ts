/**
 * The decision stage for one routed request: which action it needs, whether the policy grants it
 * (asking the backend where a protected tag points only when a rule needs to know), and the route
 * the backend may act on (cross-repository mount parameters removed when the source may not be
 * read). It answers with values; the pipeline turns a refusal into 401 or 403.
 */
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Identity } from '../auth/identity.js';
import type { AccessPolicy, Action, Decision } from '../access/policy.js';
import type { Backend } from '../backend/backend.js';
import { RegistryError } from '../errors.js';
import { MAX_MANIFEST_BYTES, readBodyWithLimit } from '../read-body.js';
import { isDigest, type Route } from './route.js';
import { withoutUnauthorizedMount } from './mount.js';

export interface Authorized {
  readonly decision: Decision;
  /** The route for the backend: identical to the request's except for removed mount parameters. */
  readonly route: Route;
  /** The manifest, when it had to be read to tell a re-push from a move of a protected tag. */
  readonly body?: Buffer | undefined;
}

/** Go's net/http (Distribution) reads POST form bodies as parameters: a `from` there would bypass our check. */
function isFormBody(headers: IncomingHttpHeaders): boolean {
  const type = (headers['content-type'] ?? '').toLowerCase();
  return type.startsWith('application/x-www-form-urlencoded') || type.startsWith('multipart/form-data');
}

function digestOf(bytes: Buffer, like: string): string {
  const algorithm = like.slice(0, like.indexOf(':'));
  return `${algorithm}:${createHash(algorithm === 'sha512' ? 'sha512' : 'sha256').update(bytes).digest('hex')}`;
}

export async function authorizeRequest(route: Route, action: Action, req: IncomingMessage, identity: Identity, policy: AccessPolicy, backend: Backend): Promise<Authorized> {
  const method = req.method ?? 'GET';
  let decision: Decision;
  let body: Buffer | undefined;
  if (route.kind === 'manifest' && (method === 'PUT' || method === 'DELETE')) {
    const target = isDigest(route.reference) ? { digest: route.reference } : { tag: route.reference };
    // A push to a protected tag moves it only when the tag exists and the pushed manifest differs.
    const tagMoves = async () => {
      const current = await backend.manifestDigest(route.repository, route.reference);
      if (current === undefined || method !== 'PUT') return current !== undefined;
      body = await readBodyWithLimit(req, MAX_MANIFEST_BYTES);
      return digestOf(body, current) !== current;
    };
    decision = await policy.decideManifest(identity, route.repository, action, target, tagMoves);
  } else {
    decision = policy.decide(identity, route.repository, action);
  }
  if (!decision.allowed || route.kind !== 'upload-start') return { decision, route, body };
  if (isFormBody(req.headers)) throw new RegistryError('BLOB_UPLOAD_INVALID', 'upload parameters must be in the query string, not a form body');
  return { decision, route: withoutUnauthorizedMount(route, identity, policy) };
}
