/**
 * Every decision the web UI needs, asked of access/'s `decide` as the /v2/ request it stands for
 * would be, with the caller's Identity (a robot's scopes included); no rule is restated here:
 *
 * - a repository page, a manifest, a config, referrers: pull on the repository, as
 *   `GET /v2/<name>/manifests/…` needs;
 * - the repository list: what `GET /v2/_catalog` shows (the catalog, then each name in it);
 * - a delete: `DELETE /v2/<name>/manifests/<reference>`, protected tags included (the backend is
 *   asked where a protected tag points, as the gateway asks it).
 *
 * Managing robots is not a registry request: it needs membership of `ui.adminGroup`.
 */
import { contentProbe, manifestTarget } from '../access/content.js';
import { decide, mayListUnder, type AccessDecision } from '../access/decide.js';
import type { AccessPolicy } from '../access/policy.js';
import type { Identity } from '../auth/identity.js';
import type { Backend } from '../backend/backend.js';

/** A delete's decision, as `DELETE /v2/<name>/manifests/<reference>` would get it. */
export type DeleteDecision = AccessDecision;

export class UiDecisions {
  readonly #policy: AccessPolicy;
  readonly #backend: Backend;
  readonly #adminGroup: string | undefined;

  constructor(policy: AccessPolicy, backend: Backend, adminGroup: string | undefined) {
    this.#policy = policy;
    this.#backend = backend;
    this.#adminGroup = adminGroup;
  }

  mayPull(identity: Identity, repository: string): boolean {
    return decide(this.#policy, identity, { kind: 'repository', repository, action: 'pull' }).allowed;
  }

  mayListRepositories(identity: Identity): boolean {
    return decide(this.#policy, identity, { kind: 'catalog' }).allowed;
  }

  listsRepository(identity: Identity, repository: string): boolean {
    return decide(this.#policy, identity, { kind: 'catalog-entry', repository }).allowed;
  }

  /** False when the repository list can show no name under `prefix` (it skips them unread). */
  mayListUnder(identity: Identity, prefix: string): boolean {
    return mayListUnder(this.#policy, identity, prefix);
  }

  /** Whether to offer deletes in this repository; protected tags are decided on the delete itself. */
  mayOfferDelete(identity: Identity, repository: string): boolean {
    return decide(this.#policy, identity, { kind: 'repository', repository, action: 'delete' }).allowed;
  }

  decideDelete(identity: Identity, repository: string, reference: string): Promise<DeleteDecision> {
    const probe = contentProbe(this.#backend, { repository, reference }, 'DELETE', () => Promise.resolve(Buffer.alloc(0)));
    return decide(this.#policy, identity, { kind: 'content', repository, action: 'delete', target: manifestTarget(reference), probe });
  }

  isAdmin(identity: Identity): boolean {
    return (
      this.#adminGroup !== undefined && identity.user !== null && identity.via !== 'robot' && identity.groups.includes(this.#adminGroup)
    );
  }
}
