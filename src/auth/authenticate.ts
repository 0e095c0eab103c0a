/**
 * From a request's credentials to an Identity. In order:
 * 1. a trusted SSO proxy's user header (only ever present here when the peer is trusted: the
 *    pipeline deletes those headers from anyone else before anything reads them);
 * 2. an Authorization header: Basic credentials go through the (cached, throttled) provider chain;
 * 3. nothing: the anonymous caller.
 * A malformed header or credentials no provider accepts are 'invalid' — always the same generic
 * challenge, never which check failed. Errors (429 throttled, 503 directory down) propagate.
 */
import { ANONYMOUS, type AuthProvider, type CredentialRefusal, type Identity } from './identity.js';
import { parseBasicAuthorization } from './authorization-header.js';
import { withGroups, type GroupSource } from './groups.js';

export interface AuthRequest {
  readonly authorization: string | undefined;
  /** The client's address after trusted-proxy resolution. */
  readonly clientIp: string;
  /** From a trusted SSO proxy only. */
  readonly ssoUser?: string | undefined;
  readonly ssoGroups?: string | undefined;
  /** Told which check refused a token offered as the password (for the audit record). */
  readonly onRefused?: ((refusal: CredentialRefusal) => void) | undefined;
}

export type Authenticate = (request: AuthRequest) => Promise<Identity | 'invalid'>;

/** One name: no control characters, and no comma (two copies of the header arrive joined by one). */
// eslint-disable-next-line no-control-regex -- control characters are what this refuses
const SSO_NAME = /^[^\x00-\x1f\x7f,]{1,256}$/;

function ssoIdentity(user: string, groups: string | undefined): Identity | 'invalid' {
  const name = user.trim();
  if (!SSO_NAME.test(name)) return 'invalid';
  const list = (groups ?? '')
    .split(',')
    .map((group) => group.trim())
    .filter((group) => group !== '' && SSO_NAME.test(group));
  return { user: name, groups: [...new Set(list)], via: 'header' };
}

export function createAuthenticator(verifier: AuthProvider, groupSources: readonly GroupSource[]): Authenticate {
  return async (request) => {
    if (request.ssoUser !== undefined) {
      const identity = ssoIdentity(request.ssoUser, request.ssoGroups);
      return identity === 'invalid' ? identity : withGroups(identity, groupSources);
    }
    const credentials = parseBasicAuthorization(request.authorization);
    if (credentials === 'absent') return ANONYMOUS;
    if (credentials === 'malformed') return 'invalid';
    const identity = await verifier.verify({ ...credentials, clientIp: request.clientIp, onRefused: request.onRefused });
    return identity ? withGroups(identity, groupSources) : 'invalid';
  };
}
