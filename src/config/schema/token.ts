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

/** JWS algorithms the token service signs with: ES256 by default, RS256 where a client needs RSA. */
export const SIGNING_ALGORITHMS = ['ES256', 'RS256'] as const;
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];

const duration = (fallback: string, minMs: number, maxMs: number) =>
  durationSchema(fallback).refine((ms) => ms >= minMs && ms <= maxMs, { message: `must be from ${minMs / 1000}s to ${maxMs / 1000}s` });

// Quoted into WWW-Authenticate and compared byte for byte by registries: printable, no quotes.
const name = z
  .string()
  .min(1)
  .max(200)
  .refine((value) => /^[!#-[\]-~]+$/.test(value), { message: 'printable ASCII without spaces, quotes or backslashes' });

/** `auth.scheme`. */
export const authSchemeSchema = z.enum(['basic', 'bearer']).default('basic');
export type AuthScheme = z.output<typeof authSchemeSchema>;

/** `auth.token`. */
export const tokenConfigSchema = z.strictObject({
  issuer: name.default('registry-gate'),
  service: name.default('registry-gate'),
  realm: z
    .url({ protocol: /^https?$/ })
    .refine((value) => !/["\\\s]/.test(value), { message: 'must not contain quotes, backslashes or spaces' })
    .optional(),
  keyDir: z.string().min(1).optional(),
  algorithm: z.enum(SIGNING_ALGORITHMS).default('ES256'),
  expiresIn: duration('300s', 60_000, 86_400_000),
  refreshExpiresIn: duration('30d', 3_600_000, 366 * 86_400_000),
  robots: z.string().min(1).optional(),
});

export type TokenConfigInput = z.input<typeof tokenConfigSchema>;
export type ParsedTokenConfig = z.output<typeof tokenConfigSchema>;
