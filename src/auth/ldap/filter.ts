/**
 * LDAP search filters built from configured templates and untrusted values (the user name a client
 * typed, a DN the directory returned). Every value is escaped per RFC 4515 §3 before it is put into
 * the template, so `*`, `(`, `)`, `\` and NUL in a value are matched literally and can never add a
 * wildcard or another filter component (LDAP injection).
 *
 * Written here rather than taken from ldapts' `Filter.escape` because that one leaves the other
 * control characters raw (legal, but unreadable in logs) and we want one place that also decides
 * which user names are refused before any directory is asked.
 */
import { FilterParser } from 'ldapts';

/** Longest user name sent to a directory; longer ones are refused without asking. */
export const MAX_USER_NAME_LENGTH = 256;

// C0 controls, DEL and C1 controls: no one types them in a user name, and NUL truncates C strings.
const CONTROL = /\p{Cc}/u;

/**
 * Whether a user name may be looked up at all: non-empty, at most MAX_USER_NAME_LENGTH characters,
 * no control characters, no leading or trailing white space (LDAP matching rules ignore it, so
 * " alice" would find alice under a different name).
 */
export function isAcceptableUserName(user: string): boolean {
  return user !== '' && user.length <= MAX_USER_NAME_LENGTH && !CONTROL.test(user) && user.trim() === user;
}

/**
 * RFC 4515 value escaping: the characters the grammar reserves (NUL ( ) * \) and, beyond what it
 * requires, every other C0 control and DEL, as `\XX`. Other characters, including non-ASCII ones,
 * are sent as UTF-8, which the RFC allows.
 */
export function escapeFilterValue(value: string): string {
  let out = '';
  for (const char of value) {
    const code = char.codePointAt(0) as number;
    if (code < 0x20 || code === 0x7f || char === '(' || char === ')' || char === '*' || char === '\\') {
      out += '\\' + code.toString(16).padStart(2, '0');
    } else {
      out += char;
    }
  }
  return out;
}

export type FilterPlaceholder = 'user' | 'dn';

const PLACEHOLDER = /\{(?<name>[A-Za-z]+)\}/g;

/** Replaces `{user}` and `{dn}` in a template with the escaped values. */
export function fillFilterTemplate(template: string, values: Partial<Record<FilterPlaceholder, string>>): string {
  return template.replace(PLACEHOLDER, (whole, name: string) => {
    const value = values[name as FilterPlaceholder];
    return value === undefined ? whole : escapeFilterValue(value);
  });
}

/**
 * Why a filter template cannot be used, or undefined when it can: it must name at least one of
 * `required`, no placeholder outside `allowed`, and be a valid filter once filled in.
 */
export function filterTemplateProblem(
  template: string,
  allowed: readonly FilterPlaceholder[],
  required: readonly FilterPlaceholder[],
): string | undefined {
  const names = [...template.matchAll(PLACEHOLDER)].map((match) => match.groups?.name ?? '');
  const unknown = names.filter((name) => !(allowed as readonly string[]).includes(name));
  if (unknown.length > 0)
    return `unknown placeholder(s): ${[...new Set(unknown)].map((name) => `{${name}}`).join(', ')} (use ${allowed.map((name) => `{${name}}`).join(' or ')})`;
  if (!required.some((name) => names.includes(name))) return `must contain ${required.map((name) => `{${name}}`).join(' or ')}`;
  const probe = fillFilterTemplate(template, { user: 'probe', dn: 'cn=probe,dc=example' });
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
