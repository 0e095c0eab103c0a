/** The token service's settings as commands and the server use them: paths absolute, defaults filled in. */
import { dirname, resolve } from 'node:path';
import { tokenConfigSchema, type ParsedTokenConfig, type SigningAlgorithm } from './schema/token.js';

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
