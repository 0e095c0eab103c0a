/**
 * The headers a trusted SSO proxy names the user (and its groups) in (`auth.trustedHeader`). Only a
 * trusted proxy may send them: the pipeline deletes them from everyone else's requests before
 * anything reads them, and the upstream forwarder never passes them on, so the registry behind
 * cannot be told who the user is by a client either.
 */

export interface TrustedHeaderNames {
  readonly user: string;
  readonly groups?: string | undefined;
}

/**
 * Every name the SSO headers go by, as Node names request headers (lower case): each also in its
 * underscore spelling, which CGI-style layers behind an upstream treat as the same header. None
 * without `auth.trustedHeader`.
 */
export function ssoHeaderNames(trustedHeader: TrustedHeaderNames | undefined): string[] {
  if (!trustedHeader) return [];
  const names = [trustedHeader.user, ...(trustedHeader.groups ? [trustedHeader.groups] : [])].map((name) => name.toLowerCase());
  return names.flatMap((name) => [name, name.replace(/-/g, '_')]);
}
