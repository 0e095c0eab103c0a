/**
 * The `auth.ldap` configuration section. Validated strictly like the rest of the config: filter
 * templates are parsed at start-up, and the service account's password is named by a file or an
 * environment variable, never written in the config itself. A user's name is always the value of
 * one attribute of the entry (`namingAttributeOf`): `userNameAttribute`, or the one attribute the
 * user filter compares the whole typed name with; a config where neither says which is refused.
 *
 * ```yaml
 * auth:
 *   ldap:
 *     url: ldap://ldap.example.com          # StartTLS by default; or ldaps://ldap.example.com
 *     bindDN: cn=registry-gate,ou=services,dc=example,dc=com
 *     bindPasswordFile: /run/secrets/ldap-bind-password
 *     userBase: ou=people,dc=example,dc=com
 *     userFilter: (&(objectClass=inetOrgPerson)(uid={user}))
 *     userNameAttribute: uid                # the attribute userFilter compares {user} with
 *     # Active Directory: (&(objectClass=user)(sAMAccountName={user})) and sAMAccountName
 *     groupSearch:                          # or rely on memberOf (groupAttribute)
 *       base: ou=groups,dc=example,dc=com
 *       filter: (&(objectClass=groupOfNames)(member={dn}))
 *     tls: { ca: /etc/ssl/ldap-ca.pem }
 * ```
 */
import { z } from 'zod';
import { durationSchema } from '../duration.js';
import { filePath } from './file-path.js';
import { filterTemplateProblem, namingAttributeFromFilter } from './ldap-filter.js';
import { InternalError } from '../../lib/internal-errors.js';

const duration = (fallback: string) => durationSchema(fallback, { positive: true });

const LDAP_URL = /^ldaps?:\/\/(\[[0-9a-fA-F:.]+\]|[^\s/:?#[\]@]+)(:\d{1,5})?\/?$/;

const template = (allowed: Array<'user' | 'dn'>, required: Array<'user' | 'dn'>) =>
  z
    .string()
    .superRefine((value, ctx) => {
      const problem = filterTemplateProblem(value, allowed, required);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .meta({ docType: 'LDAP filter template' });

const attributeName = z
  .string()
  .regex(/^([A-Za-z][A-Za-z0-9-]*|\d+(\.\d+)+)$/, { error: 'not an LDAP attribute name' })
  .meta({ docType: 'attribute name' });
const dn = z.string().min(1).max(1024).meta({ docType: 'DN' });

export const ldapConfigSchema = z
  .strictObject({
    url: z.string().regex(LDAP_URL, { error: 'expected ldap://HOST[:PORT] or ldaps://HOST[:PORT]' }).meta({
      docType: 'URL',
      description: 'The directory: `ldaps://HOST[:636]`, or `ldap://HOST[:389]` (upgraded with StartTLS unless `startTls` is false).',
    }),
    startTls: z
      .boolean()
      .default(true)
      .describe('For `ldap://` URLs: upgrade with StartTLS before anything is sent. Turning it off sends passwords in clear text.'),
    bindDN: dn.describe('The service account that searches for users (and groups).'),
    bindPasswordFile: filePath
      .optional()
      .describe("File holding the service account's password (one trailing newline is ignored); set this or `bindPasswordEnv`."),
    bindPasswordEnv: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'not an environment variable name' })
      .optional()
      .describe("Name of an environment variable holding the service account's password; set this or `bindPasswordFile`."),
    userBase: dn.describe('Where users are searched (the whole subtree).'),
    userFilter: template(['user'], ['user'])
      .default('(&(objectClass=inetOrgPerson)(uid={user}))')
      .describe(
        'Search filter for a user: `{user}` is the name typed, escaped per RFC 4515. The search is this filter AND `(NAME={user})`, NAME being `userNameAttribute`, so only an entry whose name is what was typed can match, never one the filter matches by another attribute (an e-mail address: `check-config` warns of such filters). Exactly one entry must match.',
      ),
    userNameAttribute: attributeName.optional().meta({
      description:
        "Attribute of the user entry whose value is the identity's user name (e.g. `uid`, `sAMAccountName`): a login is accepted only when the name typed is that value, as the directory compares names. Set it when `userFilter` compares `{user}` with more than one attribute.",
      docDefault: 'the one attribute `userFilter` compares `{user}` with for equality',
    }),
    groupAttribute: attributeName
      .default('memberOf')
      .describe(
        "Attribute of the user entry listing its groups' DNs; a group's name is its DN's leading RDN value (the CN). Ignored with `groupSearch`.",
      ),
    groupSearch: z
      .strictObject({
        base: dn.describe('Where groups are searched (the whole subtree).'),
        filter: template(['user', 'dn'], ['user', 'dn'])
          .default('(&(objectClass=groupOfNames)(member={dn}))')
          .describe("Search filter for the user's groups: `{dn}` is the user's DN and `{user}` the user name, both escaped per RFC 4515."),
        nameAttribute: attributeName.default('cn').describe("Attribute of a group entry that holds the group's name."),
      })
      .optional()
      .meta({
        description: 'Find groups by searching for them instead of `groupAttribute` (directories without `memberOf`).',
        docDefault: 'none',
      }),
    tls: z
      .strictObject({
        ca: filePath
          .optional()
          .meta({ description: "PEM file with the CA(s) that signed the directory's certificate.", docDefault: "the system's CAs" }),
        rejectUnauthorized: z
          .boolean()
          .default(true)
          .describe(
            "Verify the directory's certificate; `false` accepts any certificate, so anyone on the path can read the passwords (logged as a warning).",
          ),
        servername: z.string().min(1).optional().meta({
          description: "Name to verify the certificate against when it differs from the URL's host.",
          docDefault: "the URL's host",
        }),
      })
      .prefault({})
      .describe('TLS to the directory (ldaps:// and StartTLS).'),
    timeout: duration('5s').describe(
      'Limit for one whole check (connect, StartTLS, search, bind, groups); past it the directory counts as unavailable (503).',
    ),
    poolSize: z.number().int().min(1).max(64).default(4).describe("Connections kept open for the service account's searches."),
  })
  .superRefine((value, ctx) => {
    if ((value.bindPasswordFile === undefined) === (value.bindPasswordEnv === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['bindPasswordFile'], message: 'set exactly one of bindPasswordFile and bindPasswordEnv' });
    }
    // Guessing would make some attribute's values user names, perhaps one users can set themselves (mail).
    // (A filter that is not valid has its own error already.)
    const validFilter = filterTemplateProblem(value.userFilter, ['user'], ['user']) === undefined;
    if (value.userNameAttribute === undefined && validFilter && namingAttributeFromFilter(value.userFilter) === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['userNameAttribute'],
        message:
          'userFilter does not compare {user} with exactly one attribute for equality, so it does not say which attribute is the user name: set userNameAttribute (e.g. uid, sAMAccountName)',
      });
    }
  });

export type LdapConfigInput = z.input<typeof ldapConfigSchema>;
export type LdapConfig = z.output<typeof ldapConfigSchema>;

/** The attribute whose value is a user's name: `userNameAttribute`, else the one the user filter names users by. */
export function namingAttributeOf(config: Pick<LdapConfig, 'userFilter' | 'userNameAttribute'>): string {
  const attribute = config.userNameAttribute ?? namingAttributeFromFilter(config.userFilter);
  // The schema refuses a config without one; reaching this is a config built around the schema.
  if (attribute === undefined)
    throw new InternalError('RG_ERR_CONFIG_INVALID', 'auth.ldap: no attribute names the users; set userNameAttribute');
  return attribute;
}
