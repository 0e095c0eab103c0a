/**
 * Builds the identity stage from config, once: the password providers in their configured order
 * (robots first), login throttling behind one verified-credential cache, groups from every source,
 * and — when the token service is on — signing keys, the token service, the bearer authenticator
 * and the re-check of refresh token subjects (the same chain, asked without a password). With a
 * shared Redis, the throttle's counters live there (this process's memory while it is away) and
 * revocations reach every replica through it (revocations.ts).
 */
import type { Logger } from 'pino';
import type { Config } from '../config/load.js';
import { createAuthenticator, type Authenticate } from './authenticate.js';
import { ProviderChain } from './chain.js';
import { CachedVerifier, type VerifyOutcome } from './credential-cache.js';
import { GroupFile } from './group-file.js';
import { configGroups, withGroups, type GroupSource } from './groups.js';
import { HtpasswdProvider } from './htpasswd/provider.js';
import type { AuthProvider, Credentials, Identity } from './identity.js';
import { LdapProvider } from './ldap/index.js';
import { LoginThrottle, MemoryCounterStore, RedisCounterStore, ThrottledProvider } from './throttle/index.js';
import { RevocationChannel } from './revocations.js';
import type { RedisConnection } from '../redis/connection.js';
import { createBearerAuthenticator } from './token/bearer.js';
import { SigningKeys } from './token/keys.js';
import type { RefreshIdentity } from './token/refresh-subject.js';
import { RobotProvider } from './token/robots.js';
import { TokenService } from './token/service.js';
import { assembleOwnerCredentials, type OwnerCredentials } from './owner-credentials.js';
import { UNLOCKED, type KeyedSections } from './sections.js';

export interface AuthStage {
  /** What the pipeline calls for /v2/ requests (bearer tokens in bearer mode, Basic otherwise). */
  readonly authenticate: Authenticate;
  /** Basic credentials, SSO headers or anonymous: what the token endpoint accepts on GET. */
  readonly authenticateBasic: Authenticate;
  /** The OAuth2 password grant: the cached, throttled provider chain, then groups from every source. */
  verifyPassword(credentials: Credentials): Promise<Identity | null>;
  /** A refresh token's subject, asked of the provider chain again (no cache, no throttle), with its groups now. */
  readonly refreshIdentity: RefreshIdentity;
  readonly tokens: TokenService | undefined;
  readonly robots: RobotProvider;
  /** Re-reads the user, group, robot and key files now if they changed; with `force`, whatever their stat says. */
  reload(force?: boolean): Promise<void>;
  /** Called after users, groups, robots or keys changed (what another replica must re-read too). */
  onCredentialsChange(listener: () => void): void;
  /** The login throttle's counters, handed to the next identity stage on a config reload that keeps its settings. */
  readonly throttle: LoginThrottle | undefined;
  /** Connects and binds to the directory as the service account (readiness); absent without LDAP. Resolves false when it cannot. */
  readonly directoryReady: (() => Promise<boolean>) | undefined;
  /** Personal access tokens and the OpenID provider's users (owner-credentials.ts). */
  readonly owners: OwnerCredentials;
  close(): Promise<void>;
}

export interface AssembleOptions {
  /** Told how each password verification ended (metrics). */
  readonly onVerified?: (outcome: VerifyOutcome) => void;
  /** A running throttle to keep (its failure counts survive a config reload); only when its settings are unchanged. */
  readonly throttle?: LoginThrottle | undefined;
  /** Replicas' shared Redis: throttle counters and revocations live there. */
  readonly redis?: RedisConnection | undefined;
  /** The server's shared lock, for the personal token and OpenID Connect stores' writes and re-checks. */
  readonly lock?: KeyedSections | undefined;
}

export async function assembleAuth(config: Config, logger: Logger, options: AssembleOptions = {}): Promise<AuthStage> {
  const htpasswd = await HtpasswdProvider.open({ file: config.auth.htpasswd, logger });
  const ldap = config.auth.ldap ? await LdapProvider.open({ config: config.auth.ldap, logger }) : undefined;
  ldap?.probe().catch(() => undefined); // logs why; the gateway still starts and answers 503 for LDAP users
  const robots = await RobotProvider.open({ file: config.auth.token.robots, logger });
  const byName: Record<string, AuthProvider | undefined> = { htpasswd, ldap };
  // Robots first: only `robot$…` names are theirs, every other name passes on at no cost.
  const chain = new ProviderChain([robots, ...config.auth.providers.map((name) => byName[name] as AuthProvider)], logger);
  // Throttling sits behind the cache: correct credentials answered from the cache are never slowed.
  const throttle = config.auth.throttle.enabled ? (options.throttle ?? loginThrottle(config, options.redis)) : undefined;
  const throttled = throttle ? new ThrottledProvider(chain, throttle) : chain;
  const verifier = new CachedVerifier(throttled, { ttlMs: config.auth.cacheTtl, maxEntries: config.auth.cacheSize }, options.onVerified);
  htpasswd.onChange(() => verifier.flush());
  robots.onChange(() => verifier.flush());
  const groupFile = config.auth.groupFile ? await GroupFile.open({ file: config.auth.groupFile, logger }) : undefined;
  const groupSources: GroupSource[] = [configGroups(config.groups), ...(groupFile ? [(user: string) => groupFile.groupsOf(user)] : [])];
  const owners = await assembleOwnerCredentials(config, { chain, groupSources, lock: options.lock ?? UNLOCKED, logger });
  htpasswd.onChange(() => owners.flush());
  robots.onChange(() => owners.flush());
  const passwords = owners.withPersonalTokens(verifier);
  const authenticateBasic = createAuthenticator(passwords, groupSources);

  let keys: SigningKeys | undefined;
  let tokens: TokenService | undefined;
  if (config.auth.tokenEndpoint) {
    const settings = config.auth.token;
    keys = await SigningKeys.open({ dir: settings.keyDir, algorithm: settings.algorithm, logger });
    tokens = new TokenService({
      issuer: settings.issuer,
      service: settings.service,
      keys,
      expiresInMs: settings.expiresIn,
      refreshExpiresInMs: settings.refreshExpiresIn,
    });
  }
  const stores = [htpasswd, robots, groupFile, keys, ...owners.stores];
  const reload = async (force = false): Promise<void> => {
    await Promise.all(
      stores.map(async (store) => {
        await store?.reload(force);
      }),
    );
  };
  const onCredentialsChange = (listener: () => void): void => {
    for (const store of stores) store?.onChange(listener);
  };
  const revocations =
    options.redis &&
    (await RevocationChannel.open(
      options.redis,
      { reloadFiles: () => reload(true), refuseRobots: (ids) => robots.refuseIds(ids), onFilesChange: onCredentialsChange },
      logger,
    ));

  const authenticate =
    tokens && config.auth.scheme === 'bearer'
      ? createBearerAuthenticator({
          tokens,
          basic: authenticateBasic,
          onInvalidToken: (reason) => logger.debug({ reason }, 'bearer token refused'),
        })
      : authenticateBasic;

  return {
    authenticate,
    authenticateBasic,
    async verifyPassword(credentials) {
      const identity = await passwords.verify(credentials);
      return identity && withGroups(identity, groupSources);
    },
    refreshIdentity: owners.refreshIdentity,
    tokens,
    robots,
    owners,
    reload,
    onCredentialsChange,
    throttle,
    directoryReady:
      ldap &&
      (() =>
        ldap.probe().then(
          () => true,
          () => false,
        )),
    async close() {
      revocations?.close();
      await Promise.all([chain.close(), groupFile?.close(), keys?.close(), owners.close()]);
    },
  };
}

/** Counters in this process, or in the shared Redis with this process's memory as the fallback while it is away. */
function loginThrottle(config: Config, redis: RedisConnection | undefined): LoginThrottle {
  const settings = config.auth.throttle;
  if (!redis) return new LoginThrottle(settings);
  return new LoginThrottle(settings, { store: new RedisCounterStore(redis, settings), fallback: new MemoryCounterStore(settings) });
}
