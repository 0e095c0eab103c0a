/**
 * The `auth.oidc` section: OpenID Connect sign-in for the web UI, and the re-check of its users with
 * the identity provider while their personal access tokens and sessions are in use.
 *
 *   auth:
 *     oidc:
 *       issuer: https://sso.example.com/realms/main   # discovery at ISSUER/.well-known/openid-configuration
 *       clientId: registry-gate
 *       clientSecretFile: /run/secrets/oidc-client-secret
 *       scopes: [openid, profile, groups, offline_access]
 *       usernameClaim: preferred_username
 *       groupsClaim: groups
 *       ca: sso-ca.pem                                # a private issuer's CA
 *       name: Example SSO                             # the button: "Sign in with Example SSO"
 *       recheckInterval: 15m
 *
 * The redirect URL to register at the identity provider is `https://HOST/ui/oidc/callback` (and
 * `https://HOST/ui/` after logout), HOST as browsers reach the gateway, or `redirectUrl`.
 */
import { z } from 'zod';
import { durationSchema } from '../duration.js';
import { filePath } from './file-path.js';

/** The path of the callback under the UI; `redirectUrl` must end with it. */
export const OIDC_CALLBACK_PATH = '/ui/oidc/callback';

// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
const scopeToken = z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/, 'not an OAuth scope');
// A claim name as it appears in a JSON object; dots are not paths.
const claimName = z.string().regex(/^[A-Za-z0-9_:.$-]{1,128}$/, 'letters, digits and _ : . $ - only');

const boundedDuration = (fallback: string, minMs: number, maxMs: number) =>
  durationSchema(fallback).refine((ms) => ms >= minMs && ms <= maxMs, { error: `must be from ${minMs / 1000}s to ${maxMs / 1000}s` });

export const oidcConfigSchema = z.strictObject({
  issuer: z
    .url({ protocol: /^https$/ })
    .refine((value) => !/[?#]/.test(value), { error: 'an issuer has no query or fragment' })
    .meta({
      docType: 'URL',
      description:
        "The OpenID Provider's issuer (`https://…`, exactly as its discovery document says); its endpoints and keys are discovered from it.",
    }),
  clientId: z.string().min(1).max(256).describe('The client id registered for registry-gate at the provider.'),
  clientSecretFile: filePath.optional().meta({
    description: 'File holding the client secret (never in the config itself, never logged).',
    docDefault: 'none: a public client (PKCE only)',
  }),
  scopes: z
    .array(scopeToken)
    .min(1)
    .max(32)
    .refine((scopes) => scopes.includes('openid'), { error: 'the scopes must include openid' })
    .default(['openid', 'profile', 'offline_access'])
    .describe(
      '`offline_access` gives the refresh token the re-check of personal access tokens needs; add the scope your provider puts groups under (often `groups`).',
    ),
  usernameClaim: claimName
    .default('preferred_username')
    .describe('The claim that is the user name in access rules and the audit trail; it must be one users cannot choose themselves.'),
  groupsClaim: claimName.default('groups').describe('The claim that lists the groups (an array of strings, or one string).'),
  ca: filePath
    .optional()
    .meta({ description: "PEM file with the CA(s) of a private provider's TLS certificate.", docDefault: "the system's CAs" }),
  name: z
    .string()
    .min(1)
    .max(64)
    // eslint-disable-next-line no-control-regex -- control characters are what this refuses
    .refine((value) => !/[\x00-\x1f\x7f]/.test(value), { error: 'no control characters' })
    .default('single sign-on')
    .describe('What the login button says: "Sign in with NAME".'),
  redirectUrl: z
    .url({ protocol: /^https?$/ })
    .refine((value) => new URL(value).pathname === OIDC_CALLBACK_PATH && !/[?#]/.test(value), {
      error: `must be https://HOST${OIDC_CALLBACK_PATH}`,
    })
    .optional()
    .meta({
      docType: 'URL',
      description: 'The redirect URL registered at the provider.',
      docDefault: `\`https://HOST${OIDC_CALLBACK_PATH}\`, HOST as the browser reached the gateway`,
    }),
  passwordLogin: z
    .boolean()
    .default(true)
    .describe('Whether the login page still offers the user name and password form beside the button (registry clients are not affected).'),
  recheckInterval: boundedDuration('15m', 1_000, 86_400_000).describe(
    "How often, at most, a user's personal access tokens and sessions ask the provider again (a refresh-token grant) whether the user may still sign in: from 1s to 1d. One check per user at a time, across workers and replicas.",
  ),
  timeout: boundedDuration('10s', 1_000, 60_000).describe('Longest wait for one request to the provider.'),
  stateDir: filePath.optional().meta({
    description:
      "Where the provider's users are kept (`accounts.json`, their refresh tokens sealed) with the key that seals them (`secret.key`, 0600). Without `redis`, replicas share one folder, as they share the htpasswd file. With `redis` the users are kept in Redis (`PREFIX oidc-accounts`), and the key, unless this is set, is `auth.token.keyDir/oidc-secret.key`.",
    docDefault: '`dataDir/oidc`',
  }),
});

export type OidcConfigInput = z.input<typeof oidcConfigSchema>;
export type OidcConfig = z.output<typeof oidcConfigSchema>;
