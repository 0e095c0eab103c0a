import type { TokenAccess } from './token/types.js';

/** Who is asking, once authentication has run. Anonymous callers have `user: null`. */
export interface Identity {
  readonly user: string | null;
  readonly groups: readonly string[];
  /** Which provider established the identity. */
  readonly via: 'anonymous' | 'htpasswd' | 'ldap' | 'header' | 'token' | 'robot' | 'oidc' | 'personal-token' | 'federated';
  /**
   * Scopes that limit the caller beyond the policy: a bearer token's access claim or a robot's
   * scopes. Undefined: only the policy decides.
   */
  readonly tokenAccess?: readonly TokenAccess[];
  /**
   * A stable id of the account where its provider keeps one (a robot's id): a refresh token is
   * bound to it, so that a new account made under an old name is not taken for the old one.
   */
  readonly subjectId?: string;
  /** The personal access token the request came with (its public id): the identity is its owner's, narrowed by its scopes. */
  readonly personalTokenId?: string;
  /**
   * The stamp of the credential this identity was verified (or looked up) with, set by the provider
   * chain (deployment-key.ts): a UI session and a refresh token carry it, and are refused once the
   * user's current credential has another (a changed password, a re-made robot).
   */
  readonly credentialStamp?: string;
  /**
   * When the credential this identity was verified with stops being valid, in ms since the epoch (a
   * federated token's `exp`, a registry token's): nothing made from it — a cached verification, a
   * token issued for it — outlives it.
   */
  readonly validUntil?: number;
  /** The claims of a federated token that the access rules name (`${claims.NAME}`): verified, strings only. */
  readonly claims?: Readonly<Record<string, string>>;
  /** Where a federated identity comes from (the audit trail names it), and how long a token issued for it may live. */
  readonly federation?: FederationFacts;
}

/** Of a federated identity: its trust policy, the token's issuer and subject (`sub`), the policy's `maxTokenLifetime`. */
export interface FederationFacts {
  readonly policy: string;
  readonly issuer: string;
  readonly subject: string;
  readonly maxTokenLifetimeMs: number;
}

export const ANONYMOUS: Identity = Object.freeze({ user: null, groups: Object.freeze([]), via: 'anonymous' });

export interface Credentials {
  readonly user: string;
  readonly password: string;
  /** The client's address (after trusted-proxy resolution), for throttling failures. */
  readonly clientIp?: string;
  /** Told which check refused a federated token (for the audit record; the client sees only the generic refusal). */
  readonly onRefused?: (refusal: CredentialRefusal) => void;
}

/** Why a token offered as a password was refused: the check that failed and, once known, the policy and issuer. */
export interface CredentialRefusal {
  readonly check: string;
  readonly policy?: string | undefined;
  readonly issuer?: string | undefined;
}

/**
 * What a provider says of credentials: the user is its and the password right, its and wrong, or
 * not its. An accepted outcome may say what identifies the user's current credential (`credential`:
 * the htpasswd line's hash, the directory entry's password change time, the robot's id and secret
 * hash); the chain turns it into `Identity.credentialStamp` at once, and it goes nowhere else.
 */
export type AuthOutcome =
  | { readonly result: 'accepted'; readonly identity: Identity; readonly credential?: string }
  | { readonly result: 'rejected' }
  | { readonly result: 'unknown' };

/**
 * A source of identities. `verify` answers `null` for "unknown user or wrong password" and throws a
 * RegistryError (e.g. UNAVAILABLE) when it cannot tell. Providers that can tell an unknown user from
 * a wrong password implement `authenticate` too, so that a chain asks the next provider only for
 * users this one does not know. `final` tells the provider that nobody is asked after it, so an
 * unknown user must cost as much as a wrong password.
 *
 * `owns` tells a chain whether a name is this provider's in any spelling that folds to it
 * (foldUserName): a provider that owns a name answers 'rejected' for spellings it does not accept
 * itself, and a chain refuses a later provider's identity whose name an earlier provider owns.
 */
export interface AuthProvider {
  readonly name: string;
  verify(credentials: Credentials): Promise<Identity | null>;
  authenticate?(credentials: Credentials, final: boolean): Promise<AuthOutcome>;
  owns?(user: string): boolean;
  /**
   * Whether a user still exists, without a password (a refresh token's subject is re-checked so):
   * 'accepted' with the identity a login would give now (groups read afresh), 'rejected' for a
   * name that is this provider's but cannot log in (an expired robot), 'unknown' for a name it does
   * not have. Throws like verify when it cannot tell.
   */
  lookup?(user: string): Promise<AuthOutcome>;
  close?(): Promise<void>;
}
