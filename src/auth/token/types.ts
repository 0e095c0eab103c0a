/**
 * The values the token service passes around. `TokenAccess` is one entry of a token's `access`
 * claim (docs/spec/auth/jwt.md in distribution/distribution): a resource type, a name and the
 * actions granted on it. A robot account's scopes use the same shape, with a repository pattern
 * (`team-a/*`) as the name; only entries made by `repositoryPatternAccess` match as patterns, so a
 * name inside a signed token is always compared literally.
 */
import type { Identity } from '../identity.js';

export { SIGNING_ALGORITHMS, type SigningAlgorithm } from '../../config/schema/token.js';

export interface TokenAccess {
  /** `repository` or `registry` (a resource class such as `repository(plugin)` is dropped, as Distribution does). */
  readonly type: string;
  /** A repository name, `catalog` for the registry type, or a pattern for robot scopes. */
  readonly name: string;
  /** `pull`, `push`, `delete`, or `*` (all of them; what `registry:catalog:*` uses). */
  readonly actions: readonly string[];
}

/**
 * An identity whose rights are also limited by scopes: a bearer token's access claim, or a robot
 * account's scopes. `tokenAccess` undefined means "only the policy decides"; an empty array means
 * "nothing at all". (Integration: this is the one optional field to add to `Identity`.)
 */
export interface ScopedIdentity extends Identity {
  readonly tokenAccess?: readonly TokenAccess[];
}

/** One parsed resource scope from a `scope` parameter or a challenge. */
export interface ResourceScope {
  readonly type: string;
  /** The resource class in `type(class)`, if one was given; informative only. */
  readonly resourceClass?: string;
  readonly name: string;
  readonly actions: readonly string[];
}

/** Thrown by every token verification failure; the message is generic on purpose. */
export class InvalidTokenError extends Error {
  /** Why, for debug logs only (never for the client: one generic answer for every failure). */
  readonly reason: string;

  constructor(reason: string) {
    super('invalid token');
    this.name = 'InvalidTokenError';
    this.reason = reason;
  }
}
