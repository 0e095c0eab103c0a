/**
 * Who a refresh token may still get tokens for. A refresh token lives for weeks, and a lot can
 * change in that time: the user deleted from the htpasswd file or the directory, removed from a
 * group, a robot revoked and another made under its name. So a refresh never trusts what the token
 * recorded: it asks the provider chain again for the subject, without a password (the htpasswd file
 * as last read, a directory search as the service account, the robot store), and reads the groups
 * afresh from every source, as a login would.
 *
 * The same re-check stands behind every UI session (ui/session.ts): a session is a refresh token
 * kept in a cookie.
 *
 * Refused (null, one generic 401 for the client): a subject that no provider has any more, one that
 * another provider than the one that verified it answers for now (a directory user whose name later
 * appears in the htpasswd file is not that user), an account with another id (a robot made anew
 * under the old name), a credential that is not the one it was issued for (the stamp differs: the
 * password was changed, as an administrator does when it was stolen; or the token predates stamps),
 * or one issued before the user's sessions were revoked (`token revoke --user`). A provider that
 * cannot answer (directory down) throws, so the client gets 503, never a token.
 */
import type { AuthOutcome, Identity } from '../identity.js';
import { withGroups, type GroupSource } from '../groups.js';

/** What a refresh token says of its subject. */
export interface RefreshSubject {
  readonly user: string;
  /** The provider that verified the subject; absent in refresh tokens issued before it was recorded. */
  readonly via?: string | undefined;
  /** The account's id, where its provider keeps one (a robot's). */
  readonly subjectId?: string | undefined;
  /** The stamp of the credential it was issued for (Identity.credentialStamp). */
  readonly credentialStamp?: string | undefined;
  /** When it was issued, ms since the epoch. */
  readonly issuedAt?: number | undefined;
}

/** Since when each user's sessions and refresh tokens are valid (auth/user-revocations.ts). */
export interface RevokedUsers {
  notBefore(user: string): number | undefined;
}

/** Whether `token revoke --user` ended what was issued to the subject: it was issued (or made) before the revocation. */
export function revokedBefore(revokedUsers: RevokedUsers, subject: RefreshSubject): boolean {
  const notBefore = revokedUsers.notBefore(subject.user);
  return notBefore !== undefined && (subject.issuedAt ?? 0) < notBefore;
}

/** The identity to issue for a refresh token's subject now, or null when it must not get tokens. */
export type RefreshIdentity = (subject: RefreshSubject) => Promise<Identity | null>;

/** Identities a refresh can re-check: those a provider verified. An SSO proxy's user is asked of nobody. */
const REFRESHABLE: ReadonlySet<Identity['via']> = new Set(['htpasswd', 'ldap', 'robot']);

/** Whether a refresh token may be issued to `identity` (one the refresh can re-check). */
export function mayRefresh(identity: Identity): boolean {
  return identity.user !== null && REFRESHABLE.has(identity.via);
}

/**
 * The re-check: `lookup` is the provider chain's (first owner of the name decides, identities
 * stamped), `groupSources` the config's groups and the group file, as for a login; `revokedUsers`
 * what `token revoke --user` recorded.
 */
export function createRefreshIdentity(
  lookup: (user: string) => Promise<AuthOutcome>,
  groupSources: readonly GroupSource[],
  revokedUsers?: RevokedUsers,
): RefreshIdentity {
  return async (subject) => {
    if (revokedUsers && revokedBefore(revokedUsers, subject)) return null;
    const outcome = await lookup(subject.user);
    if (outcome.result !== 'accepted') return null;
    const found = outcome.identity;
    if (found.user !== subject.user || !REFRESHABLE.has(found.via)) return null;
    if (subject.via !== undefined && found.via !== subject.via) return null;
    // Both undefined for providers without ids; a robot's refresh token must name the robot's id.
    if (found.subjectId !== subject.subjectId) return null;
    // Both undefined only where nothing stamps (a chain built without a deployment key, in tests).
    if (found.credentialStamp !== subject.credentialStamp) return null;
    return withGroups(found, groupSources);
  };
}
