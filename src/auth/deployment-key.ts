/**
 * The deployment key: 32 random bytes (hex) in `auth.token.keyDir/deployment.key` (0600), made once
 * by whichever process starts first. The key directory is what every worker and every replica of one
 * gateway already share (token signing keys, robots), and what two gateways never share, so the key
 * tells one deployment from another and agrees within one. Two things are keyed by it:
 *
 * - Credential stamps. A UI session and a refresh token carry the stamp of the credential they were
 *   issued for: an HMAC of the provider, the user, the account's id and what identifies its current
 *   credential (`AuthOutcome.credential`: the htpasswd line's hash, the directory entry's password
 *   change time, the robot's id and secret hash). A changed password makes another stamp, so every
 *   session and refresh token issued before it is refused (token/refresh-subject.ts), with no list
 *   of what to revoke (Django's `get_session_auth_hash`). Keyed, so a stamp — readable by its holder
 *   in the cookie or the JWT — says nothing of the hash it is made from (an unsalted `{SHA}` hash
 *   could otherwise be checked against guesses offline).
 * - The default `redis.keyPrefix`: `registry-gate:` and an id derived from the key, so two gateways
 *   on one Redis (staging and production) never share throttle counters or revocations unless
 *   their configs name one prefix.
 *
 * Deleting the file ends every UI session and refresh token (and changes the default prefix).
 */
import { createHmac, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/load.js';
import type { RedisConfig, ResolvedRedisConfig } from '../config/schema/redis.js';
import { createFileAtomic } from '../lib/atomic-write.js';
import type { Identity } from './identity.js';
import { InternalError } from '../lib/internal-errors.js';

export const DEPLOYMENT_KEY_FILE = 'deployment.key';
const DEFAULT_PREFIX_START = 'registry-gate:';

/** The stamp of an identity's credential: what the provider chain puts in `Identity.credentialStamp`. */
export type StampCredential = (provider: string, identity: Identity, credential: string | undefined) => string;

export class DeploymentKey {
  readonly #key: Buffer;

  private constructor(key: Buffer) {
    this.#key = key;
  }

  /** Loads the key from `keyDir`, making it (and the folder, 0700) first if there is none. */
  static async open(keyDir: string): Promise<DeploymentKey> {
    const file = join(keyDir, DEPLOYMENT_KEY_FILE);
    await createFileAtomic(file, randomBytes(32).toString('hex') + '\n');
    const text = (await readFile(file, 'utf8')).trim();
    if (!/^[0-9a-f]{64}$/.test(text)) {
      throw new InternalError('RG_ERR_FILE_INVALID', `${file} is not a deployment key (64 hex digits); delete it to make a new one`);
    }
    return new DeploymentKey(Buffer.from(text, 'hex'));
  }

  #mac(purpose: string, parts: readonly string[]): Buffer {
    const hmac = createHmac('sha256', this.#key).update(purpose);
    // Length-prefixed, so no two lists of parts hash alike.
    for (const part of parts) hmac.update(`\n${Buffer.byteLength(part)}:${part}`);
    return hmac.digest();
  }

  /** See the top of this file; 128 bits are plenty to tell one credential from the next. */
  readonly stampCredential: StampCredential = (provider, identity, credential) =>
    this.#mac('credential-stamp', [provider, identity.user ?? '', identity.subjectId ?? '', credential ?? ''])
      .subarray(0, 16)
      .toString('base64url');

  /** `registry-gate:` and 12 hex digits of this deployment's id, and a colon. */
  get redisKeyPrefix(): string {
    return `${DEFAULT_PREFIX_START}${this.#mac('redis-key-prefix', []).subarray(0, 6).toString('hex')}:`;
  }
}

/** The `redis` settings with the key prefix decided: the configured one, else the deployment's own. */
export async function resolveRedisConfig(redis: RedisConfig, keyDir: string): Promise<ResolvedRedisConfig> {
  if (redis.keyPrefix !== undefined) return { ...redis, keyPrefix: redis.keyPrefix };
  return { ...redis, keyPrefix: (await DeploymentKey.open(keyDir)).redisKeyPrefix };
}

/** `resolveRedisConfig` for a loaded config: undefined without `redis`. */
export async function sharedRedisConfig(config: Pick<Config, 'redis' | 'auth'>): Promise<ResolvedRedisConfig | undefined> {
  return config.redis && resolveRedisConfig(config.redis, config.auth.token.keyDir);
}
