/**
 * The values the token service passes around. `TokenAccess` is one entry of a token's `access`
 * claim (docs/spec/auth/jwt.md in distribution/distribution): a resource type, a name and the
 * actions granted on it. A robot account's scopes use the same shape, with a repository pattern
 * (`team-a/*`) as the name, marked `pattern`; a token's claims are parsed without that mark, so a
 * name inside a signed token is always compared literally. What these entries allow is decided in
 * access/ (access/scopes.ts).
 */
import { InternalError } from '../../lib/internal-errors.js';

export { SIGNING_ALGORITHMS, type SigningAlgorithm } from '../../config/schema/token.js';

export interface TokenAccess {
  /** `repository` or `registry` (a resource class such as `repository(plugin)` is dropped, as Distribution does). */
  readonly type: string;
  /** A repository name, `catalog` for the registry type, or a pattern for robot scopes. */
  readonly name: string;
  /** `pull`, `push`, `delete`, or `*` (all of them; what `registry:catalog:*` uses). */
  readonly actions: readonly string[];
  /** The name is a repository pattern (`*` within a component, `**` across): a robot's scopes only. */
  readonly pattern?: true;
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
export class InvalidTokenError extends InternalError {
  /** Why, for debug logs only (never for the client: one generic answer for every failure). */
  readonly reason: string;

  constructor(reason: string) {
    super('RG_ERR_TOKEN_INVALID', 'invalid token');
    this.name = 'InvalidTokenError';
    this.reason = reason;
  }
}
