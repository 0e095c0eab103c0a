/**
 * The decision stage for one routed request: which action it needs, whether the policy grants it
 * (asking the backend where a protected tag points, or which tags use a blob, only when a rule needs
 * to know), and what the backend may act on: the route (cross-repository mount parameters removed
 * when the source may not be read) and the body it may read. It answers with values; the pipeline
 * turns a refusal into 401 or 403.
 */
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Identity } from '../auth/identity.js';
import {
  protectedTagRefusal,
  type AccessPolicy,
  type Action,
  type ContentProbe,
  type Decision,
  type ManifestTarget,
} from '../access/policy.js';
import type { Backend } from '../backend/backend.js';
import { RegistryError } from '../errors.js';
import { MAX_MANIFEST_BYTES, readBodyWithLimit } from '../lib/read-body.js';
import { isDigest, type Route } from './route.js';
import { authorizeMount } from './mount.js';

export interface Authorized {
  readonly decision: Decision;
  /** Why protected tags refused the request, for the client (the DENIED message). */
  readonly refusal?: string | undefined;
  /** The route for the backend: identical to the request's except for removed mount parameters. */
  readonly route: Route;
  /**
   * The body the backend sends on instead of the request stream: the manifest, when it had to be
   * read to tell a re-push from a move of a protected tag; empty for an upload start, which has no
   * body in the distribution spec (so a form hidden in one can never be read as parameters).
   */
  readonly body?: Buffer | undefined;
  /** The push was granted on condition that the protected tag it names does not move. */
  readonly tagMustNotMove: boolean;
  /** A mount whose source the policy lets the caller pull, but not the caller's token: the mount was removed from `route`. */
  readonly mountSourceScopeMissing?: boolean;
}

const NO_BODY = Buffer.alloc(0);

/** Go's net/http (Distribution) reads POST form bodies as parameters: a `from` there would bypass our check. */
function isFormBody(headers: IncomingHttpHeaders): boolean {
  const type = (headers['content-type'] ?? '').toLowerCase();
  return type.startsWith('application/x-www-form-urlencoded') || type.startsWith('multipart/form-data');
}

function digestOf(bytes: Buffer, like: string): string {
  const algorithm = like.slice(0, like.indexOf(':'));
  return `${algorithm}:${createHash(algorithm === 'sha512' ? 'sha512' : 'sha256')
    .update(bytes)
    .digest('hex')}`;
}

/** What a write touches, for rules with protected tags; undefined for requests they do not guard. */
function contentTarget(route: Route, method: string): ManifestTarget | undefined {
  if (route.kind === 'manifest' && (method === 'PUT' || method === 'DELETE')) {
    return isDigest(route.reference) ? { digest: route.reference } : { tag: route.reference };
  }
  if (route.kind === 'blob' && method === 'DELETE') return { blob: route.reference };
  return undefined;
}

/**
 * The policy's decision on one routed request, by method, without the request itself: the probe
 * asks the backend where a protected tag points or which tags use a blob, only when a rule needs to
 * know, and `readBody` (a manifest PUT's body) only when a push might move a protected tag. The
 * web UI's deletes are decided here too, as the same DELETE would be at /v2/.
 */
export async function decideRequest(
  route: Route,
  method: string,
  action: Action,
  identity: Identity,
  policy: AccessPolicy,
  backend: Backend,
  readBody: () => Promise<Buffer> = () => Promise.resolve(NO_BODY),
): Promise<{ decision: Decision; body?: Buffer | undefined }> {
  const target = contentTarget(route, method);
  if (!target) return { decision: policy.decide(identity, route.repository, action) };
  let body: Buffer | undefined;
  const probe: ContentProbe = {
    // A push to a protected tag moves it only when the tag exists and the pushed manifest differs.
    async tagMoves() {
      const current = await backend.manifestDigest(route.repository, route.reference);
      if (current === undefined || method !== 'PUT') return current !== undefined;
      body = await readBody();
      return digestOf(body, current) !== current;
    },
    // A backend that cannot tell which tags use a blob protects every blob.
    blobProtected: (selected) => backend.tagReferencesBlob?.(route.repository, route.reference, selected) ?? Promise.resolve(true),
  };
  const decision = await policy.decideContent(identity, route.repository, action, target, probe);
  return { decision, body };
}

export async function authorizeRequest(
  route: Route,
  action: Action,
  req: IncomingMessage,
  identity: Identity,
  policy: AccessPolicy,
  backend: Backend,
): Promise<Authorized> {
  const { decision, body } = await decideRequest(route, req.method ?? 'GET', action, identity, policy, backend, () =>
    readBodyWithLimit(req, MAX_MANIFEST_BYTES),
  );
  const tagMustNotMove = decision.tagMustNotMove === true;
  const target = contentTarget(route, req.method ?? 'GET');
  const refusal = decision.reason === 'protected-tag' && target ? protectedTagRefusal(target, action) : undefined;
  if (!decision.allowed || route.kind !== 'upload-start') return { decision, refusal, route, body, tagMustNotMove };
  if (isFormBody(req.headers))
    throw new RegistryError('BLOB_UPLOAD_INVALID', 'upload parameters must be in the query string, not a form body');
  const mount = authorizeMount(route, identity, policy);
  // Only a monolithic upload (`?digest=`) has a body; an upload start or a mount sends none on.
  const monolithic = new URLSearchParams(mount.route.rawQuery).has('digest');
  return {
    decision,
    route: mount.route,
    body: monolithic ? undefined : NO_BODY,
    tagMustNotMove,
    mountSourceScopeMissing: mount.sourceScopeMissing,
  };
}
