/**
 * The decision step for one routed request: it asks access/ (`decide`) about the action the request
 * needs, with a probe that asks the backend where a protected tag points, or which tags use a blob,
 * only when a rule needs to know; then it fixes what the backend may act on: the route (mount
 * parameters removed when the source may not be read) and the body it may read. It answers with
 * values; the pipeline turns a refusal into 401 or 403.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Identity } from '../auth/identity.js';
import { contentProbe, contentTarget } from '../access/content.js';
import { decide, type AccessDecision } from '../access/decide.js';
import { protectedTagRefusal, type AccessPolicy } from '../access/policy.js';
import type { Action } from '../oci/actions.js';
import type { Backend } from '../backend/backend.js';
import { RegistryError } from '../oci/errors.js';
import { MAX_MANIFEST_BYTES, readBodyWithLimit } from '../lib/read-body.js';
import type { Route } from '../oci/route.js';
import { authorizeMount } from './mount.js';

export interface Authorized {
  readonly decision: AccessDecision;
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
  /** A mount whose source the rules let the caller pull, but not the caller's token: the mount was removed from `route`. */
  readonly mountSourceScopeMissing?: boolean;
}

const NO_BODY = Buffer.alloc(0);

/** A manifest PUT's body: capped at the manifest limit, under the body deadline. */
export function readManifestBody(req: IncomingMessage, deadlineMs: number): Promise<Buffer> {
  return readBodyWithLimit(req, MAX_MANIFEST_BYTES, { deadlineMs });
}

/** What the decision may read of the request body. */
export interface BodyAccess {
  /** How long the body may take to arrive, when the decision has to read it (`server.bodyTimeout`). */
  readonly deadlineMs: number;
  /** The manifest, when the pipeline read it already (before taking the protected-tag lock). */
  readonly manifest?: Buffer | undefined;
}

/** Go's net/http (Distribution) reads POST form bodies as parameters: a `from` there would bypass our check. */
function isFormBody(headers: IncomingHttpHeaders): boolean {
  const type = (headers['content-type'] ?? '').toLowerCase();
  return type.startsWith('application/x-www-form-urlencoded') || type.startsWith('multipart/form-data');
}

export async function authorizeRequest(
  route: Route,
  action: Action,
  req: IncomingMessage,
  identity: Identity,
  policy: AccessPolicy,
  backend: Backend,
  bodyAccess: BodyAccess,
): Promise<Authorized> {
  const method = req.method ?? 'GET';
  const target = contentTarget(route, method);
  let body: Buffer | undefined;
  let decision: AccessDecision;
  let undecided = false;
  if (target) {
    const { manifest, deadlineMs } = bodyAccess;
    const readBody = manifest ? () => Promise.resolve(manifest) : () => readManifestBody(req, deadlineMs);
    const probe = contentProbe(backend, route, method, readBody);
    decision = await decide(policy, identity, { kind: 'content', repository: route.repository, action, target, probe });
    // A body read before the decision goes to the backend whether or not the decision needed it: the request stream is spent.
    body = manifest ?? probe.body();
    undecided = probe.blobUndecided();
  } else {
    decision = decide(policy, identity, { kind: 'repository', repository: route.repository, action });
  }
  const tagMustNotMove = decision.tagMustNotMove === true;
  const refusal = decision.reason === 'protected-tag' && target ? protectedTagRefusal(target, action, undecided) : undefined;
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
