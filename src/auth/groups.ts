/**
 * Group membership from every source, merged in one place after a provider established who the
 * caller is: the provider's own groups (LDAP, SSO header), the config's `groups`, and the group file.
 * Merging after the credential cache means a group change needs no cache flush.
 */
import type { Identity } from './identity.js';

export type GroupSource = (user: string) => readonly string[];

export function configGroups(groups: Readonly<Record<string, readonly string[]>>): GroupSource {
  const byUser = new Map<string, string[]>();
  for (const [group, members] of Object.entries(groups)) {
    for (const member of members) byUser.set(member, [...(byUser.get(member) ?? []), group]);
  }
  return (user) => byUser.get(user) ?? [];
}

export function withGroups(identity: Identity, sources: readonly GroupSource[]): Identity {
  if (identity.user === null) return identity;
  const user = identity.user;
  const extra = sources.flatMap((source) => source(user));
  if (extra.length === 0) return identity;
  return { ...identity, groups: [...new Set([...identity.groups, ...extra])] };
}
