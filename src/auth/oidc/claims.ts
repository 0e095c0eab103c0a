/**
 * From a provider's claims to a user name and groups, the way the rest of the gateway knows users:
 * the name is `usernameClaim` (a string a rule can name, no control or bidirectional formatting
 * character (lib/terminal-safe.ts), no comma, at most 256 characters, never a robot's `robot$`
 * name), the groups `groupsClaim` (an array of strings, or one string), each checked the same way, at most MAX_GROUPS of them. Anything else is refused
 * with a reason: a sign-in without a usable name must not become some other name.
 */
import { foldUserName } from '../user-name.js';
import { ROBOT_PREFIX } from '../token/robots.js';
import { hasTerminalControl } from '../../lib/terminal-safe.js';

export const MAX_GROUPS = 256;
const NAME = /^[^,]{1,256}$/;

export type ClaimsOutcome =
  { readonly ok: true; readonly user: string; readonly groups: readonly string[] } | { readonly ok: false; readonly reason: string };

function usable(value: unknown): value is string {
  return typeof value === 'string' && NAME.test(value) && !hasTerminalControl(value) && value.trim() === value;
}

export function userFromClaims(claims: Readonly<Record<string, unknown>>, usernameClaim: string, groupsClaim: string): ClaimsOutcome {
  const user = claims[usernameClaim];
  if (user === undefined) return { ok: false, reason: `the provider sent no ${usernameClaim} claim` };
  if (!usable(user)) return { ok: false, reason: `the ${usernameClaim} claim is not a usable user name` };
  if (foldUserName(user).startsWith(ROBOT_PREFIX)) return { ok: false, reason: 'a robot account name cannot sign in through the provider' };
  const raw = claims[groupsClaim];
  const listed = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  if (listed.length > MAX_GROUPS) return { ok: false, reason: `more than ${MAX_GROUPS} groups in the ${groupsClaim} claim` };
  const groups = [...new Set(listed.filter(usable))];
  return { ok: true, user, groups };
}
