/** Who is asking, once authentication has run. Anonymous callers have `user: null`. */
export interface Identity {
  readonly user: string | null;
  readonly groups: readonly string[];
  /** Which provider established the identity. */
  readonly via: 'anonymous' | 'htpasswd' | 'ldap' | 'header' | 'token';
}

export const ANONYMOUS: Identity = Object.freeze({ user: null, groups: Object.freeze([]), via: 'anonymous' });

export interface Credentials {
  readonly user: string;
  readonly password: string;
}

/** A source of identities. `null` means "I do not know this user or the password is wrong". */
export interface AuthProvider {
  readonly name: string;
  verify(credentials: Credentials): Promise<Identity | null>;
  close?(): Promise<void>;
}
