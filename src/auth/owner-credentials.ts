/**
 * What lets a person's credentials outlive a login but never the person: personal access tokens
 * (personal-tokens/), the users of the OpenID provider and their re-check (oidc/), and the lookup
 * of an owner now that both rely on. Built once per config by assemble.ts.
 *
 * - A session's or refresh token's subject (`refreshIdentity`): an OpenID Connect account is asked
 *   of the account store (re-checked with the provider when due); anyone else of the provider
 *   chain, as before.
 * - A personal token's owner (`ownerIdentity`): the same, but the chain's answer is remembered for
 *   auth.cacheTtl (owner-lookup.ts) and forgotten when users, groups or robots change.
 * - When the provider ends an account, that user's personal tokens are deleted too, and listeners
 *   (the audit trail) are told why.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/load.js';
import type { ProviderChain } from './chain.js';
import { withGroups, type GroupSource } from './groups.js';
import type { AuthProvider, Identity } from './identity.js';
import { OidcAccounts, type AccountEnded } from './oidc/accounts.js';
import { OidcClient } from './oidc/client.js';
import { SecretBox } from './oidc/secret-box.js';
import { OwnerLookupCache } from './owner-lookup.js';
import { PersonalTokens } from './personal-tokens/provider.js';
import type { CloseStack } from '../lib/close-stack.js';
import type { RedisConnection } from '../redis/connection.js';
import type { SectionLock } from '../lib/section-lock.js';
import {
  createRefreshIdentity,
  revokedBefore,
  type RefreshIdentity,
  type RefreshSubject,
  type RevokedUsers,
} from './token/refresh-subject.js';
import type { OidcConfig } from '../config/schema/oidc.js';

/** An account that ended, and why (for the audit trail). */
export interface CredentialsEnded extends AccountEnded {
  readonly via: 'oidc';
}

export interface OidcSignIn {
  readonly config: OidcConfig;
  readonly client: OidcClient;
  readonly accounts: OidcAccounts;
  /** Seals the browser's login state between the redirect and the callback. */
  readonly box: SecretBox;
}

export interface OwnerCredentials {
  readonly personalTokens: PersonalTokens;
  readonly oidc: OidcSignIn | undefined;
  readonly refreshIdentity: RefreshIdentity;
  /** The password check with personal tokens in front: a `rgpat_` password is the tokens' to decide, and no password provider's. */
  withPersonalTokens(passwords: AuthProvider): AuthProvider;
  onEnded(listener: (event: CredentialsEnded) => void): void;
  /** Forget remembered owners (users, groups or robots changed). */
  flush(): void;
  /** The files these keep, for reloads and the revocations other replicas hear of. */
  readonly stores: ReadonlyArray<{ reload(force?: boolean): Promise<void>; onChange(listener: () => void): unknown }>;
}

export interface OwnerCredentialsDeps {
  readonly chain: ProviderChain;
  readonly groupSources: readonly GroupSource[];
  /** What `token revoke --user` recorded: sessions, refresh tokens and personal tokens made before it are refused. */
  readonly revokedUsers: RevokedUsers;
  readonly lock: SectionLock;
  /** With Redis, the tokens and the provider's users are kept there, not in files (record-store.ts). */
  readonly redis?: RedisConnection | undefined;
  /** Where what is opened here is registered to be closed (the generation's stack). */
  readonly stack: CloseStack;
  readonly logger: Logger;
}

/**
 * Where the key that seals refresh tokens is kept: `stateDir` when given; else, with Redis, the key
 * directory (replicas that keep the accounts in Redis share no data folder, but share keyDir, as
 * they share the token signing keys); else `dataDir/oidc`.
 */
function secretBoxDir(config: Config, oidc: OidcConfig, redis: boolean): { dir: string; file?: string } {
  if (oidc.stateDir !== undefined) return { dir: oidc.stateDir };
  if (redis) return { dir: config.auth.token.keyDir, file: 'oidc-secret.key' };
  return { dir: join(config.dataDir, 'oidc') };
}

async function openOidc(
  config: Config,
  oidcConfig: OidcConfig,
  deps: OwnerCredentialsDeps,
  onEnded: (event: AccountEnded) => void,
): Promise<OidcSignIn> {
  const dir = oidcConfig.stateDir ?? join(config.dataDir, 'oidc');
  const keyAt = secretBoxDir(config, oidcConfig, deps.redis !== undefined);
  const box = await SecretBox.open(keyAt.dir, keyAt.file);
  const client = deps.stack.adopt(await OidcClient.create(oidcConfig), (opened) => opened.close());
  const accounts = deps.stack.adopt(
    await OidcAccounts.open({
      file: join(dir, 'accounts.json'),
      redis: deps.redis,
      client,
      box,
      recheckIntervalMs: oidcConfig.recheckInterval,
      lock: deps.lock,
      ownedElsewhere: (user) => deps.chain.owns(user),
      onEnded,
      logger: deps.logger,
    }),
    (opened) => opened.close(),
  );
  return { config: oidcConfig, client, accounts, box };
}

export async function assembleOwnerCredentials(config: Config, deps: OwnerCredentialsDeps): Promise<OwnerCredentials> {
  const { chain, groupSources, logger } = deps;
  const listeners = new Set<(event: CredentialsEnded) => void>();
  // The provider's users and the tokens need each other: an ended user's tokens are deleted, a token's owner is asked of the provider.
  const made: { tokens?: PersonalTokens } = {};
  const ended = (event: AccountEnded): void => {
    const revoked = made.tokens?.revoke((token) => token.via === 'oidc' && token.owner === event.user);
    void revoked?.catch((error: unknown) =>
      logger.error(
        { user: event.user, err: error instanceof Error ? error.message : String(error) },
        'personal tokens of an ended user not deleted',
      ),
    );
    for (const listener of listeners) listener({ ...event, via: 'oidc' });
  };
  const oidc = config.auth.oidc && (await openOidc(config, config.auth.oidc, deps, ended));
  const oidcIdentity = async (subject: RefreshSubject): Promise<Identity | null> => {
    // `token revoke --user` ends what was issued before it, for the provider's users as for anyone's.
    if (revokedBefore(deps.revokedUsers, subject)) return null;
    const identity = oidc ? await oidc.accounts.identityOf(subject) : null;
    return identity && withGroups(identity, groupSources);
  };
  const chainSubject = createRefreshIdentity((user) => chain.lookup(user), groupSources, deps.revokedUsers);
  const owners = new OwnerLookupCache((user) => chain.lookup(user), { ttlMs: config.auth.cacheTtl, maxEntries: config.auth.cacheSize });
  // A token's owner is re-checked as a session's subject is: same account, same credential stamp, not revoked since.
  const chainOwner = createRefreshIdentity((user) => owners.lookup(user), groupSources, deps.revokedUsers);

  const tokens = deps.stack.adopt(
    await PersonalTokens.open({
      file: config.auth.tokens.store,
      redis: deps.redis,
      enabled: config.auth.tokens.enabled,
      maxLifetimeMs: config.auth.tokens.maxLifetime,
      maxPerUser: config.auth.tokens.maxPerUser,
      ownerIdentity: (subject) => (subject.via === 'oidc' ? oidcIdentity(subject) : chainOwner(subject)),
      lock: deps.lock,
      logger,
    }),
    (opened) => opened.close(),
  );
  deps.stack.defer(() => listeners.clear());
  made.tokens = tokens;
  return {
    personalTokens: tokens,
    oidc,
    refreshIdentity: (subject) => (subject.via === 'oidc' ? oidcIdentity(subject) : chainSubject(subject)),
    withPersonalTokens: (passwords) => ({
      name: passwords.name,
      async verify(credentials) {
        if (!tokens.claims(credentials.password)) return passwords.verify(credentials);
        const outcome = await tokens.check(credentials);
        return outcome.result === 'accepted' ? outcome.identity : null;
      },
    }),
    onEnded: (listener) => void listeners.add(listener),
    flush: () => owners.flush(),
    stores: [tokens, ...(oidc ? [oidc.accounts] : [])],
  };
}
