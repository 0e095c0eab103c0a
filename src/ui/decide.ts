/**
 * Every decision the web UI needs, asked of the same functions as the /v2/ requests it stands for,
 * with the caller's Identity (a robot's scopes included); no rule is restated here:
 *
 * - a repository page, a manifest, a config, referrers: what `GET /v2/<name>/manifests/…` needs,
 *   pull by the policy and the caller's scopes (`isAuthorized`);
 * - the repository list: what `GET /v2/_catalog` shows (`mayListCatalog`, `showsInCatalog`);
 * - a delete: `DELETE /v2/<name>/manifests/<reference>` as the gateway decides it, protected tags
 *   included (`decideRequest`), then the caller's scopes (`scopesAllow`).
 *
 * Managing robots is not a registry request: it needs membership of `ui.adminGroup`.
 */
import type { AccessPolicy } from '../access/policy.js';
import type { Identity } from '../auth/identity.js';
import { isAuthorized, mayListCatalog, scopesAllow, showsInCatalog } from '../auth/token/access.js';
import type { Backend } from '../backend/backend.js';
import { decideRequest } from '../gateway/authorize.js';
import { routeFromUrl } from '../oci/route.js';

export interface DeleteDecision {
  readonly allowed: boolean;
  readonly ruleIndex: number;
  readonly reason?: 'policy' | 'protected-tag' | 'scope';
}

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
    return isAuthorized(this.#policy, identity, repository, 'pull');
  }

  mayListRepositories(identity: Identity): boolean {
    return mayListCatalog(this.#policy, identity);
  }

  listsRepository(identity: Identity, repository: string): boolean {
    return showsInCatalog(this.#policy, identity, repository);
  }

  /** Whether to offer deletes in this repository; protected tags are decided on the delete itself. */
  mayOfferDelete(identity: Identity, repository: string): boolean {
    return isAuthorized(this.#policy, identity, repository, 'delete');
  }

  async decideDelete(identity: Identity, repository: string, reference: string): Promise<DeleteDecision> {
    const route = routeFromUrl(`/v2/${repository}/manifests/${reference}`);
    const { decision } = await decideRequest(route, 'DELETE', 'delete', identity, this.#policy, this.#backend);
    if (!decision.allowed) return { allowed: false, ruleIndex: -1, reason: decision.reason ?? 'policy' };
    if (!scopesAllow(identity, repository, 'delete')) return { allowed: false, ruleIndex: -1, reason: 'scope' };
    return { allowed: true, ruleIndex: decision.ruleIndex };
  }

  isAdmin(identity: Identity): boolean {
    return (
      this.#adminGroup !== undefined && identity.user !== null && identity.via !== 'robot' && identity.groups.includes(this.#adminGroup)
    );
  }
}
