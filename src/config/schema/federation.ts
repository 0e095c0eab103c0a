/**
 * `auth.federation`: trust policies for the short-lived OIDC tokens a CI job or a Kubernetes pod is
 * given by its platform (workload identity federation). Each policy names one issuer, the audience
 * its tokens must carry, the claims that must hold, and the name and groups a token that passes
 * stands for:
 *
 *   auth:
 *     federation:
 *       - name: github
 *         issuer: https://token.actions.githubusercontent.com
 *         audience: https://registry.example.com
 *         conditions: { repository_owner: octo-org, ref: refs/heads/main }
 *         user: gh:${claims.repository}
 *         groups: [github-ci]
 *
 * A federated user's name starts with a literal prefix ending in `:` (`gh:`), which no htpasswd
 * name can contain and which the identity stage owns before any directory is asked, so a token
 * never stands for a password user, nor a password user for a token's subject; policies of two
 * issuers never share a prefix, so a name says which issuer vouched for it.
 */
import { z } from 'zod';
import { durationSchema } from '../duration.js';
import { filePath } from './file-path.js';
import { CLAIM_NAME, placeholderProblem } from './claim-template.js';

const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** The literal prefix of a federated user name: up to its first colon. */
const USER_PREFIX = /^[A-Za-z0-9][A-Za-z0-9._-]{0,31}:/;
// eslint-disable-next-line no-control-regex -- control characters are what this refuses
const PRINTABLE = /^[^\x00-\x1f\x7f]*$/;

/** The prefix a policy's user names start with (`gh:`), once its `user` template is valid. */
export function federatedUserPrefix(user: string): string | undefined {
  return USER_PREFIX.exec(user)?.[0];
}

const template = (what: string) =>
  z
    .string()
    .min(1)
    .max(256)
    .superRefine((value, ctx) => {
      const problem = PRINTABLE.test(value) ? placeholderProblem(value, { claims: true }) : 'control characters';
      if (problem) ctx.addIssue({ code: 'custom', message: `${what}: ${problem}` });
    })
    .meta({ docType: 'template' });

const userTemplate = template('user').superRefine((value, ctx) => {
  if (federatedUserPrefix(value) === undefined)
    ctx.addIssue({
      code: 'custom',
      message: 'must start with a literal prefix ending in a colon, such as gh:${claims.repository} (so it never names a password user)',
    });
});

const issuerUrl = z
  .url({ protocol: /^https$/ })
  .refine((value) => !/[?#\s"\\]/.test(value), { error: 'an https:// URL without query, fragment, spaces or quotes' })
  .meta({ docType: 'URL' });

const condition = z
  .string()
  .min(1)
  .max(512)
  .refine((value) => PRINTABLE.test(value), { error: 'no control characters' })
  .meta({ docType: 'value or glob' });

export const federationPolicySchema = z.strictObject({
  name: z.string().regex(NAME, 'lower case letters, digits and -').describe('The policy, as audit lines and logs name it.'),
  issuer: issuerUrl.describe(
    'The issuer (`iss`), compared byte for byte; its `/.well-known/openid-configuration` and JWKS are fetched over TLS.',
  ),
  audience: z
    .string()
    .min(1)
    .max(256)
    .describe("What the token's `aud` must contain (required: a token minted for another service never passes)."),
  ca: filePath
    .optional()
    .meta({ description: "PEM file with the CA(s) to verify the issuer's TLS certificate against.", docDefault: "the system's" }),
  conditions: z.record(z.string().regex(CLAIM_NAME, 'a claim name'), condition).default({}).meta({
    docType: 'map: claim → value or glob',
    docDefault: 'none',
    description:
      'Claims that must all hold: an exact value, or a glob (`*` within a `/`-separated segment, `**` across, `?` one character), compared byte for byte with the claim, which must be a string.',
  }),
  user: userTemplate.describe(
    'The user a token stands for: a literal prefix ending in `:` (unique to this issuer), then text and `${claims.NAME}` placeholders, e.g. `gh:${claims.repository}`.',
  ),
  groups: z
    .array(template('groups'))
    .max(32)
    .default([])
    .describe("Groups of that user: names, or templates with `${claims.NAME}`; the config's groups and the group file add theirs."),
  maxTokenLifetime: durationSchema('15m')
    .refine((ms) => ms >= 10_000 && ms <= 86_400_000, { error: 'must be from 10s to 1d' })
    .describe("The longest a registry token issued for such a token lives (never past the token's own `exp`)."),
});

export type FederationPolicyConfig = z.output<typeof federationPolicySchema>;

/** `auth.federation`: names unique; one prefix never shared by two issuers. */
export const federationSchema = z
  .array(federationPolicySchema)
  .max(64)
  .superRefine((policies, ctx) => {
    const names = new Set<string>();
    const issuerOfPrefix = new Map<string, string>();
    for (const [index, policy] of policies.entries()) {
      if (names.has(policy.name)) ctx.addIssue({ code: 'custom', path: [index, 'name'], message: `${policy.name} is used twice` });
      names.add(policy.name);
      const prefix = federatedUserPrefix(policy.user)?.toLowerCase();
      if (prefix === undefined) continue;
      const issuer = issuerOfPrefix.get(prefix);
      if (issuer !== undefined && issuer !== policy.issuer)
        ctx.addIssue({ code: 'custom', path: [index, 'user'], message: `the prefix ${prefix} is another issuer's` });
      issuerOfPrefix.set(prefix, policy.issuer);
    }
  });
