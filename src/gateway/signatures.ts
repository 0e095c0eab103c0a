/**
 * The pipeline's signature step (`signatures` in the config; src/signatures/ makes the verdicts):
 * after the rules allowed a manifest GET or HEAD in a repository a policy covers, the reference is
 * resolved to its digest and every covering policy's verdict on that digest is asked.
 *
 * - Signed: the backend serves the manifest by that digest (a tag is pinned to what was checked,
 *   so a tag moved in between serves nothing unchecked). No manifest at the tag or digest when it
 *   was checked: 404 from here, never a read by tag that the backend would answer with what the
 *   tag names by then.
 * - Not signed, `enforce`: 403 DENIED naming the policy (never the keys), and an audit record
 *   (reason `unsigned`, the policy and why in `detail`).
 * - Not signed, `audit`: served, with an audit record saying it would have been refused.
 * - No deadlock for the signer: a caller the rules let push to the repository may read a manifest
 *   by digest before its signature exists (cosign signs what it reads by digest); the read is
 *   audited (reason `unsigned-signer-read`). By tag, everyone needs the signature.
 */
import { decide } from '../access/decide.js';
import { auditRecord } from '../access/audit-records.js';
import { isDigest } from '../oci/names.js';
import { RegistryError } from '../oci/errors.js';
import type { SignatureVerdict } from '../signatures/index.js';
import type { Route } from '../oci/route.js';
import type { Authorized } from './authorize.js';
import type { Identified } from './exchange.js';

function isManifestRead({ route, method }: Identified): boolean {
  return route.kind === 'manifest' && (method === 'GET' || method === 'HEAD');
}

function pinned(route: Route, digest: string): Route {
  if (route.reference === digest) return route;
  return { ...route, reference: digest, path: `/v2/${route.repository}/manifests/${digest}` };
}

/** One audit record about a pull a policy would refuse, written once the answer's status is known. */
function auditUnsigned(exchange: Identified, verdict: SignatureVerdict, reason: string, status?: number): void {
  const { options, identity, state, method, route, res } = exchange;
  const why = verdict.outcome.signed ? '' : verdict.outcome.why;
  const write = (answered: number) =>
    options.audit.record({
      ...auditRecord({
        identity,
        client: state.client,
        method,
        route,
        action: 'pull',
        decision: status ? 'deny' : 'allow',
        rule: -1,
        status: answered,
        reason,
      }),
      detail: `signature policy ${verdict.policy}: ${why}`,
    });
  if (status) write(status);
  else res.once('finish', () => write(res.statusCode));
}

/** The signature decision on an allowed request; returns what the backend serves, or throws the refusal. */
export async function enforceSignatures(exchange: Identified, authorized: Authorized): Promise<Authorized> {
  const { options, route, identity } = exchange;
  const signatures = options.signatures;
  if (!signatures || !isManifestRead(exchange) || !signatures.covers(route.repository)) return authorized;
  const byDigest = isDigest(route.reference);
  const digest = byDigest ? route.reference : await options.backend.manifestDigest(route.repository, route.reference);
  // No such manifest, as far as the check could see: answered here. Forwarded by tag, the backend
  // would serve whatever the tag names by then (pushed or moved since), which nothing has checked.
  const verdicts = digest === undefined ? undefined : await signatures.verdicts(options.backend, route.repository, digest);
  if (digest === undefined || verdicts === undefined) {
    throw new RegistryError('MANIFEST_UNKNOWN', undefined, { detail: { reference: route.reference } });
  }
  const unsigned = verdicts.filter((verdict) => !verdict.outcome.signed);
  const served = { ...authorized, route: pinned(authorized.route, digest) };
  if (unsigned.length === 0) return served;
  const signer = byDigest && decide(options.policy, identity, { kind: 'repository', repository: route.repository, action: 'push' }).allowed;
  if (signer) {
    for (const verdict of unsigned) auditUnsigned(exchange, verdict, 'unsigned-signer-read');
    return served;
  }
  const refusing = unsigned.find((verdict) => verdict.mode === 'enforce');
  if (refusing) {
    auditUnsigned(exchange, refusing, 'unsigned', 403);
    throw new RegistryError('DENIED', `signature policy ${refusing.policy}: no valid signature covers this manifest`, {
      detail: { action: 'pull', policy: refusing.policy },
    });
  }
  for (const verdict of unsigned) auditUnsigned(exchange, verdict, 'unsigned');
  options.loggers.app.warn(
    { repository: route.repository, digest, policies: unsigned.map((verdict) => verdict.policy) },
    'an unsigned manifest was pulled (signature policy in audit mode)',
  );
  return served;
}

/**
 * After a manifest push or delete the backend took, in a covered repository: drop its verdicts (a
 * signature may have come or gone). A refused write drops nothing, so it cannot be used to make
 * every pull verify again.
 */
export function noteManifestWrite(exchange: Identified): void {
  const { options, route, method, res } = exchange;
  if (route.kind !== 'manifest' || (method !== 'PUT' && method !== 'DELETE') || res.statusCode >= 300) return;
  options.signatures?.signaturesChanged(route.repository);
}
