/**
 * The grammar of `auth.ldap`'s filter templates, checked when the config is read: `{user}` and
 * `{dn}` placeholders, and one valid filter once they are filled in; and which attributes a user
 * filter compares the typed name with, from which the attribute that names a user is known.
 * Filling a template for a real search (with every value escaped per RFC 4515) is the LDAP
 * provider's job (auth/ldap/filter.ts).
 */
import {
  AndFilter,
  ApproximateFilter,
  EqualityFilter,
  ExtensibleFilter,
  FilterParser,
  GreaterThanEqualsFilter,
  LessThanEqualsFilter,
  OrFilter,
  SubstringFilter,
  type Filter,
} from 'ldapts';

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

/** One place where a user filter compares the typed name with an attribute. */
export interface UserNameComparison {
  /** As written in the filter; empty for an extensible match on no named attribute (`(:dn:2.5.13.5:={user})`). */
  readonly attribute: string;
  /** A plain equality with the whole name (`(uid={user})`), not a substring, approximate, ordering or extensible match. */
  readonly exact: boolean;
}

// A private-use character cannot be part of a meaningful template, so it marks where `{user}` stood.
const USER_MARK = '\u{E000}user\u{E000}';

/**
 * Every comparison of `{user}` in a (valid) user filter template, in filter order. Comparisons
 * under a NOT are left out: they keep entries out, they never let one in by that attribute.
 */
export function userNameComparisons(template: string): UserNameComparison[] {
  const filled = template.replace(FILTER_PLACEHOLDER, (whole, name: string) => (name === 'user' ? USER_MARK : whole));
  const found: UserNameComparison[] = [];
  collectComparisons(FilterParser.parseString(filled), found);
  return found;
}

function collectComparisons(filter: Filter, found: UserNameComparison[]): void {
  if (filter instanceof AndFilter || filter instanceof OrFilter) {
    for (const child of filter.filters) collectComparisons(child, found);
  } else if (filter instanceof EqualityFilter) {
    const value = Buffer.isBuffer(filter.value) ? filter.value.toString('utf8') : filter.value;
    if (value.includes(USER_MARK)) found.push({ attribute: filter.attribute, exact: value === USER_MARK });
  } else if (filter instanceof SubstringFilter) {
    if ([filter.initial, ...filter.any, filter.final].some((part) => part.includes(USER_MARK)))
      found.push({ attribute: filter.attribute, exact: false });
  } else if (filter instanceof ExtensibleFilter) {
    if (filter.value.includes(USER_MARK)) found.push({ attribute: filter.matchType, exact: false });
  } else if (filter instanceof ApproximateFilter || filter instanceof GreaterThanEqualsFilter || filter instanceof LessThanEqualsFilter) {
    if (filter.value.includes(USER_MARK)) found.push({ attribute: filter.attribute, exact: false });
  }
}

/**
 * The attribute a user filter names users by: the one attribute it compares the whole typed name
 * with for equality (`uid` in `(&(objectClass=inetOrgPerson)(uid={user}))`), or undefined when
 * there is none or more than one (`(|(uid={user})(mail={user}))` does not say which is the name).
 */
export function namingAttributeFromFilter(template: string): string | undefined {
  let comparisons: UserNameComparison[];
  try {
    comparisons = userNameComparisons(template);
  } catch {
    return undefined;
  }
  const attributes = new Map<string, string>();
  for (const { attribute, exact } of comparisons) if (exact) attributes.set(attribute.toLowerCase(), attribute);
  return attributes.size === 1 ? [...attributes.values()][0] : undefined;
}
