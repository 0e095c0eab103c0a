/**
 * The token service's configuration keys, as a schema fragment for `config/schema.ts` to include
 * under `auth` (the lead wires it in):
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
 * against the config file's folder by `resolveTokenConfig`.
 */
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { durationSchema } from '../../config/duration.js';
import { SIGNING_ALGORITHMS, type SigningAlgorithm } from './types.js';

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

export interface TokenConfig {
  readonly issuer: string;
  readonly service: string;
  readonly realm: string | undefined;
  /** Absolute. */
  readonly keyDir: string;
  readonly algorithm: SigningAlgorithm;
  readonly expiresIn: number;
  readonly refreshExpiresIn: number;
  /** Absolute. */
  readonly robots: string;
}

/** Paths made absolute (`at` resolves against the config file's folder), defaults under dataDir/token. */
export function resolveTokenConfig(
  parsed: ParsedTokenConfig | TokenConfig | undefined,
  at: (path: string) => string,
  dataDir: string,
): TokenConfig {
  const value = parsed ?? tokenConfigSchema.parse({});
  const keyDir = value.keyDir ? at(value.keyDir) : resolve(dataDir, 'token');
  return {
    issuer: value.issuer,
    service: value.service,
    realm: value.realm,
    keyDir,
    algorithm: value.algorithm,
    expiresIn: value.expiresIn,
    refreshExpiresIn: value.refreshExpiresIn,
    robots: value.robots ? at(value.robots) : resolve(keyDir, 'robots.json'),
  };
}

/**
 * The token settings of a loaded config, for the `token` command: `config.auth.token` as the
 * loader left it (resolved with resolveTokenConfig, or only parsed), or the defaults without it.
 */
export function tokenConfigFrom(config: {
  readonly dataDir: string;
  readonly source?: string | undefined;
  readonly auth: object;
}): TokenConfig {
  const value = (config.auth as { token?: ParsedTokenConfig | TokenConfig }).token;
  const baseDir = config.source ? dirname(config.source) : process.cwd();
  return resolveTokenConfig(value, (path) => resolve(baseDir, path), config.dataDir);
}
