/**
 * Deleting a tag, or a manifest by digest, from the UI: decided as `DELETE /v2/<name>/manifests/
 * <reference>` would be (protected tags included), done through the backend, audited with
 * `"source":"ui"`. A refusal says why: the policy, a protected tag (it needs overwrite), or the
 * caller's scopes.
 */
import { auditRecord } from '../access/audit-records.js';
import { isRegistryError } from '../oci/errors.js';
import { isContentDigest, isDigest, isTag } from '../oci/names.js';
import { routeFromUrl } from '../oci/route.js';
import type { UiRequest } from './context.js';
import type { DeleteDecision } from './decide.js';
import { messagePage } from './pages/message.js';
import { html } from './html.js';
import { manifestPath, repositoryPath } from './paths.js';

function refusalText(decision: DeleteDecision, reference: string): string {
  if (decision.reason === 'protected-tag') {
    return isDigest(reference)
      ? 'This repository has protected tags; deleting a manifest by digest needs overwrite.'
      : `The tag ${reference} is protected; deleting it needs overwrite.`;
  }
  if (decision.reason === 'scope') return 'Your account’s scopes do not include delete here.';
  return 'You may not delete in this repository.';
}

export async function deleteReference(request: UiRequest, repository: string): Promise<void> {
  const { identity, services, form } = request;
  const reference = form.get('reference') ?? '';
  if (!isTag(reference) && !isContentDigest(reference)) {
    request.page(400, messagePage(request.frame, 'Not deleted', 'That is not a tag or a digest.'));
    return;
  }
  const route = routeFromUrl(`/v2/${repository}/manifests/${reference}`);
  const record = (decision: 'allow' | 'deny', rule: number, status: number, reason?: string) =>
    request.audit(
      auditRecord({ identity, client: request.caller.clientIp, method: 'DELETE', route, action: 'delete', decision, rule, status, reason }),
    );
  const decision = await services.decisions.decideDelete(identity, repository, reference);
  if (!decision.allowed) {
    const status = identity.user === null ? 401 : 403;
    record('deny', -1, status, decision.reason);
    request.page(status, messagePage(request.frame, 'Not deleted', refusalText(decision, reference)));
    return;
  }
  try {
    await services.options.backend.deleteManifest(repository, reference);
  } catch (error) {
    if (!isRegistryError(error) || (error.code !== 'MANIFEST_UNKNOWN' && error.code !== 'UNSUPPORTED')) throw error;
    record('allow', decision.ruleIndex, error.status);
    if (error.code === 'MANIFEST_UNKNOWN') {
      request.page(404, messagePage(request.frame, 'Not deleted', `There is no ${reference} here (any more).`));
      return;
    }
    // Distribution 2.8 deletes manifests by digest only: point at the manifest, whose delete removes its tags too.
    const digest = isDigest(reference)
      ? undefined
      : await services.options.backend.manifestDigest(repository, reference).catch(() => undefined);
    const text = digest
      ? html`The registry behind this gateway cannot delete a tag alone. <a href="${manifestPath(repository, digest)}">Delete its manifest</a> instead; that removes every tag naming it.`
      : error.message;
    request.page(error.status, messagePage(request.frame, 'Not deleted', text));
    return;
  }
  record('allow', decision.ruleIndex, 202);
  request.redirect(`${repositoryPath(repository)}?deleted=${encodeURIComponent(reference)}`);
}
