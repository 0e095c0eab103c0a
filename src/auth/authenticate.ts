/**
 * From an Authorization header to an Identity: no header is the anonymous caller; a header that is
 * malformed or whose credentials no provider accepts is 'invalid' (always the same generic
 * challenge, never which check failed). Providers are asked in order; the first that accepts wins.
 */
import { ANONYMOUS, type AuthProvider, type Identity } from './identity.js';
import { parseBasicAuthorization } from './authorization-header.js';

export type Authenticate = (authorization: string | undefined) => Promise<Identity | 'invalid'>;

export function createAuthenticator(providers: readonly AuthProvider[]): Authenticate {
  return async (authorization) => {
    const credentials = parseBasicAuthorization(authorization);
    if (credentials === 'absent') return ANONYMOUS;
    if (credentials === 'malformed') return 'invalid';
    for (const provider of providers) {
      const identity = await provider.verify(credentials);
      if (identity) return identity;
    }
    return 'invalid';
  };
}
