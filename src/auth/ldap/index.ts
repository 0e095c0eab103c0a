/** The LDAP / Active Directory provider: filter escaping, group names from DNs (its config schema is config/schema/ldap.ts). */
export { directoryUnavailable, LdapProvider } from './provider.js';
export type { LdapOutcome, LdapProviderOptions } from './provider.js';
export { escapeFilterValue, fillFilterTemplate, isAcceptableUserName, MAX_USER_NAME_LENGTH, userSearchFilter } from './filter.js';
export { leadingRdnValue } from './dn.js';
