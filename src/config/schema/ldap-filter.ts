/**
 * The grammar of `auth.ldap`'s filter templates, checked when the config is read: `{user}` and
 * `{dn}` placeholders, and one valid filter once they are filled in. Filling a template for a real
 * search (with every value escaped per RFC 4515) is the LDAP provider's job (auth/ldap/filter.ts).
 */
import { FilterParser } from 'ldapts';

export type FilterPlaceholder = 'user' | 'dn';

export const FILTER_PLACEHOLDER = /\{([A-Za-z]+)\}/g;

// Plain values: nothing in them an RFC 4515 escape would change.
const PROBE: Record<FilterPlaceholder, string> = { user: 'probe', dn: 'cn=probe,dc=example' };

/**
 * Why a filter template cannot be used, or undefined when it can: it must name at least one of
 * `required`, no placeholder outside `allowed`, and be a valid filter once filled in.
 */
export function filterTemplateProblem(
  template: string,
  allowed: readonly FilterPlaceholder[],
  required: readonly FilterPlaceholder[],
): string | undefined {
  const names = [...template.matchAll(FILTER_PLACEHOLDER)].map((match) => match[1] as string);
  const unknown = names.filter((name) => !(allowed as readonly string[]).includes(name));
  if (unknown.length > 0)
    return `unknown placeholder(s): ${[...new Set(unknown)].map((name) => `{${name}}`).join(', ')} (use ${allowed.map((name) => `{${name}}`).join(' or ')})`;
  if (!required.some((name) => names.includes(name))) return `must contain ${required.map((name) => `{${name}}`).join(' or ')}`;
  const probe = template.replace(FILTER_PLACEHOLDER, (whole, name: string) => PROBE[name as FilterPlaceholder]);
  if (!isOneParenthesizedFilter(probe)) return 'must be one filter in balanced parentheses, e.g. (uid={user})';
  try {
    FilterParser.parseString(probe);
  } catch (error) {
    return `not a valid LDAP filter: ${error instanceof Error ? error.message : String(error)}`;
  }
  return undefined;
}

/** ldapts' parser tolerates a missing closing parenthesis (`(&(uid=x)`); a directory would not. */
function isOneParenthesizedFilter(filter: string): boolean {
  let depth = 0;
  for (let index = 0; index < filter.length; index += 1) {
    const char = filter[index];
    if (char === '\\') {
      index += 2;
    } else if (char === '(') {
      depth += 1;
    } else if (char === ')') {
      depth -= 1;
      if (depth < 0 || (depth === 0 && index !== filter.length - 1)) return false;
    }
    if (index === 0 && char !== '(') return false;
  }
  return depth === 0 && filter.length > 0;
}
