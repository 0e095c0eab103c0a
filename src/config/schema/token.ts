/**
 * The token service's configuration keys, `auth.scheme` and the `auth.token` section:
 *
 *   auth:
 *     scheme: bearer              # basic (default): Basic challenges, as the nginx recipe; bearer: Docker token auth
 *     token:
 *       issuer: registry-gate     # `iss` of tokens; a registry's auth.token.issuer
 *       service: registry-gate    # `aud` of tokens and the challenge's service; a registry's auth.token.service
 *       realm: https://gate.example:5043/auth/token   # where clients get tokens; default: this gateway's /auth/token as the client reached it
 *       keyDir: ./data/token      # token-keys.json (0600), token-cert.pem, token-jwks.json
 *       algorithm: ES256          # or RS256
 *       expiresIn: 300s           # access tokens; at least 60s
 *       refreshExpiresIn: 30d     # refresh tokens (offline_token=true, access_type=offline)
 *       robots: ./data/token/robots.json
 *
 * Durations become milliseconds, like every other duration in the config; paths are resolved
 * against the config file's folder by `resolveTokenConfig` (config/token.ts).
 */
import { z } from 'zod';
import { durationSchema } from '../duration.js';
import { filePath } from './file-path.js';

/** JWS algorithms the token service signs with: ES256 by default, RS256 where a client needs RSA. */
export const SIGNING_ALGORITHMS = ['ES256', 'RS256'] as const;
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];

const duration = (fallback: string, minMs: number, maxMs: number) =>
  durationSchema(fallback).refine((ms) => ms >= minMs && ms <= maxMs, { error: `must be from ${minMs / 1000}s to ${maxMs / 1000}s` });

// Quoted into WWW-Authenticate and compared byte for byte by registries: printable, no quotes.
const name = z
  .string()
  .min(1)
  .max(200)
  .refine((value) => /^[!#-[\]-~]+$/.test(value), { error: 'printable ASCII without spaces, quotes or backslashes' });

/** `auth.scheme`. */
export const authSchemeSchema = z
  .enum(['basic', 'bearer'])
  .default('basic')
  .describe(
    '`basic`: Basic credentials on every request, as the nginx recipe; `bearer`: clients get tokens from `/auth/token` (the Docker token flow).',
  );
export type AuthScheme = z.output<typeof authSchemeSchema>;

/** `auth.token`. */
export const tokenConfigSchema = z.strictObject({
  issuer: name.default('registry-gate').describe('`iss` of the tokens; a registry behind checks it (its `auth.token.issuer`).'),
  service: name
    .default('registry-gate')
    .describe("`aud` of the tokens and the challenge's `service`; a registry behind checks it (its `auth.token.service`)."),
  realm: z
    .url({ protocol: /^https?$/ })
    .refine((value) => !/["\\\s]/.test(value), { error: 'must not contain quotes, backslashes or spaces' })
    .optional()
    .meta({
      docType: 'URL',
      description: 'Where clients get tokens, as named in challenges.',
      docDefault: "this gateway's `/auth/token`, as the client reached it",
    }),
  keyDir: filePath.optional().meta({
    description: 'Folder of the signing keys: `token-keys.json` (0600), `token-cert.pem` and `token-jwks.json` for registries behind.',
    docDefault: '`dataDir/token`',
  }),
  algorithm: z.enum(SIGNING_ALGORITHMS).default('ES256').describe('Signature algorithm of new keys.'),
  expiresIn: duration('300s', 60_000, 86_400_000).describe('Lifetime of access tokens: from 60s to 1d.'),
  refreshExpiresIn: duration('30d', 3_600_000, 366 * 86_400_000).describe(
    'Lifetime of refresh tokens (`offline_token=true`): from 1h to 366d.',
  ),
  robots: filePath.optional().meta({
    description: "The robot accounts' store (`registry-gate token create`), watched.",
    docDefault: '`keyDir/robots.json`',
  }),
});

export type TokenConfigInput = z.input<typeof tokenConfigSchema>;
export type ParsedTokenConfig = z.output<typeof tokenConfigSchema>;
