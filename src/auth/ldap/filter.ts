/**
 * LDAP search filters built from configured templates and untrusted values (the user name a client
 * typed, a DN the directory returned). Every value is escaped per RFC 4515 §3 before it is put into
 * the template, so `*`, `(`, `)`, `\` and NUL in a value are matched literally and can never add a
 * wildcard or another filter component (LDAP injection).
 *
 * Written here rather than taken from ldapts' `Filter.escape` because that one leaves the other
 * control characters raw (legal, but unreadable in logs) and we want one place that also decides
 * which user names are refused before any directory is asked. Templates are checked with the
 * config (config/schema/ldap-filter.ts).
 */
import { FILTER_PLACEHOLDER, type FilterPlaceholder } from '../../config/schema/ldap-filter.js';

/** Longest user name sent to a directory; longer ones are refused without asking. */
export const MAX_USER_NAME_LENGTH = 256;

// C0 controls, DEL and C1 controls (Unicode's Cc): no one types them in a user name, and NUL truncates C strings.
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

/** Replaces `{user}` and `{dn}` in a template with the escaped values. */
export function fillFilterTemplate(template: string, values: Partial<Record<FilterPlaceholder, string>>): string {
  return template.replace(FILTER_PLACEHOLDER, (whole, name: string) => {
    const value = values[name as FilterPlaceholder];
    return value === undefined ? whole : escapeFilterValue(value);
  });
}

/**
 * The search for the entry named `user`: the configured user filter AND an equality on the naming
 * attribute. However widely the filter matches (by e-mail address, say), the directory returns only
 * entries whose name is the one typed, compared by the attribute's own matching rule; so another
 * entry can neither lend its password to that name nor make it ambiguous. `namingAttribute` is a
 * validated attribute name and the template a validated filter (config/schema/ldap.ts).
 */
export function userSearchFilter(template: string, namingAttribute: string, user: string): string {
  return `(&${fillFilterTemplate(template, { user })}(${namingAttribute}=${escapeFilterValue(user)}))`;
}
