/**
 * The `auth.ldap` configuration section. Validated strictly like the rest of the config: filter
 * templates are parsed at start-up, and the service account's password is named by a file or an
 * environment variable, never written in the config itself.
 *
 * ```yaml
 * auth:
 *   ldap:
 *     url: ldap://ldap.example.com          # StartTLS by default; or ldaps://ldap.example.com
 *     bindDN: cn=registry-gate,ou=services,dc=example,dc=com
 *     bindPasswordFile: /run/secrets/ldap-bind-password
 *     userBase: ou=people,dc=example,dc=com
 *     userFilter: (&(objectClass=inetOrgPerson)(uid={user}))
 *     # Active Directory: (&(objectClass=user)(sAMAccountName={user}))
 *     groupSearch:                          # or rely on memberOf (groupAttribute)
 *       base: ou=groups,dc=example,dc=com
 *       filter: (&(objectClass=groupOfNames)(member={dn}))
 *     tls: { ca: /etc/ssl/ldap-ca.pem }
 * ```
 */
import { z } from 'zod';
import { durationSchema } from '../duration.js';
import { filterTemplateProblem } from './ldap-filter.js';

const duration = (fallback: string) => durationSchema(fallback, { positive: true });

const LDAP_URL = /^ldaps?:\/\/(\[[0-9a-fA-F:.]+\]|[^\s/:?#[\]@]+)(:\d{1,5})?\/?$/;

const template = (allowed: Array<'user' | 'dn'>, required: Array<'user' | 'dn'>) =>
  z.string().superRefine((value, ctx) => {
    const problem = filterTemplateProblem(value, allowed, required);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

const attributeName = z.string().regex(/^([A-Za-z][A-Za-z0-9-]*|\d+(\.\d+)+)$/, { message: 'not an LDAP attribute name' });
const dn = z.string().min(1).max(1024);

export const ldapConfigSchema = z
  .strictObject({
    /** `ldaps://host[:636]`, or `ldap://host[:389]` (upgraded with StartTLS unless startTls is false). */
    url: z.string().regex(LDAP_URL, { message: 'expected ldap://HOST[:PORT] or ldaps://HOST[:PORT]' }),
    /** For ldap:// URLs: upgrade with StartTLS before anything is sent. Turning it off sends passwords in clear text. */
    startTls: z.boolean().default(true),
    /** The service account that searches for users (and groups). */
    bindDN: dn,
    /** File holding the service account's password (one trailing newline is ignored). */
    bindPasswordFile: z.string().min(1).optional(),
    /** Or the name of an environment variable holding it. */
    bindPasswordEnv: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: 'not an environment variable name' })
      .optional(),
    /** Where users are searched (whole subtree). */
    userBase: dn,
    /** `{user}` is replaced by the user name, escaped per RFC 4515. Exactly one entry must match. */
    userFilter: template(['user'], ['user']).default('(&(objectClass=inetOrgPerson)(uid={user}))'),
    /** When set, the identity's user name is this attribute of the entry (e.g. uid, sAMAccountName) instead of what was typed. */
    userNameAttribute: attributeName.optional(),
    /** Attribute of the user entry listing its groups' DNs; the leading RDN's value (the CN) is the group name. Ignored with groupSearch. */
    groupAttribute: attributeName.default('memberOf'),
    /** Find groups by searching for them instead (directories without memberOf). */
    groupSearch: z
      .strictObject({
        base: dn,
        /** `{dn}` is the user's DN and `{user}` the user name, both escaped per RFC 4515. */
        filter: template(['user', 'dn'], ['user', 'dn']).default('(&(objectClass=groupOfNames)(member={dn}))'),
        /** The group's name. */
        nameAttribute: attributeName.default('cn'),
      })
      .optional(),
    tls: z
      .strictObject({
        /** PEM file with the CA(s) that signed the directory's certificate; default: the system's. */
        ca: z.string().min(1).optional(),
        rejectUnauthorized: z.boolean().default(true),
        /** Name to verify the certificate against when it differs from the URL's host. */
        servername: z.string().min(1).optional(),
      })
      .prefault({}),
    /** Limit for one whole check (connect, StartTLS, search, bind, groups); past it the directory counts as unavailable (503). */
    timeout: duration('5s'),
    /** Connections kept open for the service account's searches. */
    poolSize: z.number().int().min(1).max(64).default(4),
  })
  .superRefine((value, ctx) => {
    if ((value.bindPasswordFile === undefined) === (value.bindPasswordEnv === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['bindPasswordFile'], message: 'set exactly one of bindPasswordFile and bindPasswordEnv' });
    }
  });

export type LdapConfigInput = z.input<typeof ldapConfigSchema>;
export type LdapConfig = z.output<typeof ldapConfigSchema>;
