/** The LDAP / Active Directory provider: config schema, filter escaping, group names from DNs. */
export { ldapConfigSchema } from './config.js';
export type { LdapConfig, LdapConfigInput } from './config.js';
export { directoryUnavailable, LdapProvider } from './provider.js';
export type { LdapOutcome, LdapProviderOptions } from './provider.js';
export { escapeFilterValue, fillFilterTemplate, filterTemplateProblem, isAcceptableUserName, MAX_USER_NAME_LENGTH } from './filter.js';
export { leadingRdnValue } from './dn.js';
