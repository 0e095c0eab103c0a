/**
 * Workload identity federation (`auth.federation`), opened from config for one generation: the
 * trust policies compiled, one key cache per issuer (its connections trusting the policy's `ca`),
 * their first fetch started at once, everything on the generation's close stack.
 */
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { Agent } from 'undici';
import type { Config } from '../../config/load.js';
import { claimPlaceholders } from '../../config/schema/claim-template.js';
import { federatedUserPrefix } from '../../config/schema/federation.js';
import type { CloseStack } from '../../lib/close-stack.js';
import { errnoCode } from '../../lib/errno.js';
import { InternalError } from '../../lib/internal-errors.js';
import { FederatedTokens } from './federated-tokens.js';
import { FETCH_LIMITS, IssuerKeys } from './issuer-keys.js';
import { FederatedNames } from './token-passwords.js';
import { TrustPolicy } from './trust-policy.js';

export { FederatedNames, TokenPasswords } from './token-passwords.js';
export { FederatedTokens, MAX_TOKEN_LENGTH } from './federated-tokens.js';

export interface Federation {
  readonly tokens: FederatedTokens;
  readonly names: FederatedNames;
}

/** Every claim the access rules name (`${claims.NAME}` in a repository pattern or a subject): what a federated identity carries. */
export function claimsNamedByRules(config: Config): string[] {
  const texts = (config.access ?? []).flatMap((rule) => [rule.repository, ...rule.subjects]);
  return [...new Set(texts.flatMap(claimPlaceholders))];
}

async function readCa(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    throw new InternalError(
      'RG_ERR_FILE_UNREADABLE',
      `auth.federation: cannot read the CA file ${file}: ${errnoCode(error) ?? String(error)}`,
    );
  }
}

/** One key cache per issuer, with connections of its own (the first policy naming it says which CA to trust). */
async function openIssuerKeys(config: Config, logger: Logger, stack: CloseStack): Promise<Map<string, IssuerKeys>> {
  const keys = new Map<string, IssuerKeys>();
  for (const policy of config.auth.federation) {
    if (keys.has(policy.issuer)) continue;
    const ca = policy.ca === undefined ? undefined : await readCa(policy.ca);
    const dispatcher = new Agent({
      connect: { timeout: FETCH_LIMITS.timeoutMs, ...(ca ? { ca } : {}) },
      headersTimeout: FETCH_LIMITS.timeoutMs,
      bodyTimeout: FETCH_LIMITS.timeoutMs,
      connections: 2,
    });
    stack.defer(() => dispatcher.close());
    const issuerKeys = new IssuerKeys({ issuer: policy.issuer, dispatcher, logger });
    stack.defer(() => issuerKeys.close());
    keys.set(policy.issuer, issuerKeys);
  }
  return keys;
}

/** The federation of `config`, or undefined without trust policies. */
export async function openFederation(config: Config, logger: Logger, stack: CloseStack): Promise<Federation | undefined> {
  const policies = config.auth.federation;
  if (policies.length === 0) return undefined;
  const ruleClaims = claimsNamedByRules(config);
  const keys = await openIssuerKeys(config, logger, stack);
  for (const issuerKeys of keys.values()) issuerKeys.warm();
  const prefixes = policies.map((policy) => federatedUserPrefix(policy.user) ?? policy.user);
  return {
    tokens: new FederatedTokens(
      policies.map((policy) => new TrustPolicy(policy, ruleClaims)),
      keys,
    ),
    names: new FederatedNames(prefixes),
  };
}
