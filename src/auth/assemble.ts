/**
 * Builds the identity stage from config, once: the password providers in their configured order
 * (robots first), login throttling behind one verified-credential cache, groups from every source,
 * the bearer authenticator when the token service is on (the service itself is opened by the
 * assembly, once, and handed in), and the re-check of refresh token and UI session subjects (the
 * same chain, asked without a password, its identities stamped with their credential under the
 * deployment key; the users whose sessions were revoked), and the personal access tokens and
 * OpenID Connect users in front of it all (owner-credentials.ts). With a shared Redis, the throttle's
 * counters live there (the workers' primary, or this process's memory, while it is away) and
 * revocations reach every replica through it (revocations.ts).
 *
 * Everything it opens — watched files, directory connections, the revocation channel — goes on the
 * close stack it is handed, the moment it is opened: a build that fails half-way leaves nothing
 * running, and the stage has no close of its own.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/load.js';
import type { CloseStack } from '../lib/close-stack.js';
import { createAuthenticator, type Authenticate } from './authenticate.js';
import { ProviderChain } from './chain.js';
import { CachedVerifier, type VerifyOutcome } from './credential-cache.js';
import { GroupFile } from './group-file.js';
import { configGroups, withGroups, type GroupSource } from './groups.js';
import { HtpasswdProvider } from './htpasswd/provider.js';
import type { AuthProvider, CredentialRefusal, Credentials, Identity } from './identity.js';
import { FederatedNames, MAX_TOKEN_LENGTH, openFederation, TokenPasswords, type FederatedTokens } from './federation/index.js';
import { LdapProvider } from './ldap/index.js';
import {
  LoginThrottle,
  MemoryCounterStore,
  RedisCounterStore,
  SharedCounterStore,
  ThrottledProvider,
  type CounterStore,
  type VersionedRecords,
} from './throttle/index.js';
import { publishRobotRevocation, RevocationChannel } from './revocations.js';
import { DeploymentKey } from './deployment-key.js';
import { UserRevocations } from './user-revocations.js';
import { isRedisUnavailable, type RedisConnection } from '../redis/connection.js';
import { createBearerAuthenticator } from './token/bearer.js';
import type { RefreshIdentity } from './token/refresh-subject.js';
import { RobotProvider } from './token/robots.js';
import type { TokenService } from './token/service.js';
import { assembleOwnerCredentials, type OwnerCredentials } from './owner-credentials.js';
import { KeyedLock, type SectionLock } from '../lib/section-lock.js';

export interface AuthStage {
  /** What the pipeline calls for /v2/ requests (bearer tokens in bearer mode, Basic otherwise). */
  readonly authenticate: Authenticate;
  /** Basic credentials, SSO headers or anonymous: what the token endpoint accepts on GET. */
  readonly authenticateBasic: Authenticate;
  /** The OAuth2 password grant: the cached, throttled provider chain, then groups from every source. */
  verifyPassword(credentials: Credentials): Promise<Identity | null>;
  /** RFC 8693 token exchange: a federated token (and nothing else) → its identity with its groups, through the credential cache; null when refused. */
  readonly exchangeToken: ExchangeToken;
  /** A refresh token's subject, asked of the provider chain again (no cache, no throttle), with its groups now. */
  readonly refreshIdentity: RefreshIdentity;
  readonly tokens: TokenService | undefined;
  readonly robots: RobotProvider;
  /** Tells every replica that a robot was revoked here (the UI's revocation), when they share a Redis. */
  robotRevoked(robot: { readonly id: string; readonly expires: string | null }): Promise<void>;
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
}

export interface AssembleOptions {
  /** Where everything opened here is registered to be closed (the generation's stack). */
  readonly stack: CloseStack;
  /** The token service, when it is on: bearer tokens in bearer mode, refresh tokens (the assembly opens it once). */
  readonly tokens?: TokenService | undefined;
  /** Told how each password verification ended (metrics). */
  readonly onVerified?: (outcome: VerifyOutcome) => void;
  /** A running throttle to keep (its failure counts survive a config reload); only when its settings are unchanged. */
  readonly throttle?: LoginThrottle | undefined;
  /** Replicas' shared Redis: throttle counters and revocations live there. */
  readonly redis?: RedisConnection | undefined;
  /** The records the primary keeps for the workers of this server: the throttle's counters without Redis, and while it is down. */
  readonly workerRecords?: VersionedRecords | undefined;
  /** The server's shared lock, for the personal token and OpenID Connect stores' writes and re-checks (default: this process's). */
  readonly lock?: SectionLock | undefined;
}

/** The credential stores, each watched until the stack closes, and the chain that asks them in order. */
async function openProviders(config: Config, logger: Logger, stack: CloseStack, federatedNames: FederatedNames | undefined) {
  const htpasswd = stack.adopt(await HtpasswdProvider.open({ file: config.auth.htpasswd, logger }), (opened) => opened.close());
  const ldap = config.auth.ldap && stack.adopt(await LdapProvider.open({ config: config.auth.ldap, logger }), (opened) => opened.close());
  ldap?.probe().catch(() => undefined); // logs why; the gateway still starts and answers 503 for LDAP users
  const robots = stack.adopt(await RobotProvider.open({ file: config.auth.token.robots, logger }), (opened) => opened.close());
  const deployment = await DeploymentKey.open(config.auth.token.keyDir);
  const revokedUsers = stack.adopt(await UserRevocations.open(config.auth.token.keyDir, logger), (opened) => opened.close());
  const groupFile =
    (config.auth.groupFile && stack.adopt(await GroupFile.open({ file: config.auth.groupFile, logger }), (opened) => opened.close())) ||
    undefined;
  const byName: Record<string, AuthProvider | undefined> = { htpasswd, ldap: ldap || undefined };
  // Robots first: only `robot$…` names are theirs, every other name passes on at no cost; then the federated names' prefixes.
  const chain = new ProviderChain(
    [robots, ...(federatedNames ? [federatedNames] : []), ...config.auth.providers.map((name) => byName[name] as AuthProvider)],
    logger,
    deployment.stampCredential,
  );
  return { htpasswd, ldap: ldap || undefined, robots, revokedUsers, groupFile, chain };
}

type Providers = Awaited<ReturnType<typeof openProviders>>;

/** Re-reading the stores, and hearing of their changes; with Redis, the changes other replicas announce. */
async function watchStores(
  providers: Providers,
  tokens: TokenService | undefined,
  owners: OwnerCredentials,
  options: AssembleOptions,
  logger: Logger,
) {
  const { htpasswd, robots, groupFile, revokedUsers } = providers;
  const stores = [htpasswd, robots, groupFile, tokens?.keys, revokedUsers, ...owners.stores];
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
  if (options.redis) {
    const channel = await RevocationChannel.open(
      options.redis,
      {
        reloadFiles: () => reload(true),
        refuseRobots: (ids) => robots.refuseIds(ids),
        refuseUsers: (entries) => revokedUsers.refuse(entries),
        onFilesChange: onCredentialsChange,
      },
      logger,
    );
    options.stack.defer(() => channel.close());
  }
  return { reload, onCredentialsChange };
}

export async function assembleAuth(config: Config, logger: Logger, options: AssembleOptions): Promise<AuthStage> {
  const { tokens } = options;
  const federation = await openFederation(config, logger, options.stack);
  const providers = await openProviders(config, logger, options.stack, federation?.names);
  const { htpasswd, ldap, robots, revokedUsers, groupFile, chain } = providers;
  // Throttling sits behind the cache: correct credentials answered from the cache are never slowed.
  const throttle = config.auth.throttle.enabled ? (options.throttle ?? loginThrottle(config, options)) : undefined;
  const throttled = throttle ? new ThrottledProvider(chain, throttle) : chain;
  // Tokens offered as passwords are told apart before the throttle: a signature cannot be guessed.
  const federatedPasswords = federation ? new TokenPasswords(throttled, federation.tokens, tokens, logger) : throttled;
  const verifier = new CachedVerifier(
    federatedPasswords,
    { ttlMs: config.auth.cacheTtl, maxEntries: config.auth.cacheSize },
    options.onVerified,
  );
  const groupSources: GroupSource[] = [configGroups(config.groups), ...(groupFile ? [(user: string) => groupFile.groupsOf(user)] : [])];
  const owners = await assembleOwnerCredentials(config, {
    chain,
    groupSources,
    revokedUsers,
    lock: options.lock ?? new KeyedLock(),
    redis: options.redis,
    stack: options.stack,
    logger,
  });
  for (const store of [htpasswd, robots]) {
    store.onChange(() => verifier.flush());
    store.onChange(() => owners.flush());
  }
  // A personal token is the password of its owner's registry clients: in front of the password providers.
  const passwords = owners.withPersonalTokens(verifier);
  const authenticateBasic = createAuthenticator(passwords, groupSources);
  const { reload, onCredentialsChange } = await watchStores(providers, tokens, owners, options, logger);

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
    exchangeToken: exchangeFederatedToken(federation?.tokens, verifier, groupSources),
    refreshIdentity: owners.refreshIdentity,
    tokens,
    robots,
    owners,
    async robotRevoked(robot) {
      if (!options.redis) return;
      // The others re-read their robot stores when they hear of the change; one whose copy is behind refuses the id anyway.
      await publishRobotRevocation(options.redis, robot).catch((error: unknown) => {
        if (!isRedisUnavailable(error)) throw error;
        logger.warn({ robotId: robot.id }, 'Redis is unavailable: replicas see the robot revoked when they re-read the robot store');
      });
    },
    reload,
    onCredentialsChange,
    throttle,
    directoryReady: ldap
      ? () =>
          ldap.probe().then(
            () => true,
            () => false,
          )
      : undefined,
  };
}

/** The user name the credential cache files exchanged tokens under (never a provider's: only federated tokens get this far). */
const EXCHANGE_USER = 'token-exchange';

export type ExchangeToken = (
  subjectToken: string,
  clientIp: string,
  onRefused: (refusal: CredentialRefusal) => void,
) => Promise<Identity | null>;

function exchangeFederatedToken(
  federated: FederatedTokens | undefined,
  verifier: CachedVerifier,
  groupSources: readonly GroupSource[],
): ExchangeToken {
  return async (subjectToken, clientIp, onRefused) => {
    if (!federated || !federated.isFederated(subjectToken)) {
      onRefused({ check: subjectToken.length > MAX_TOKEN_LENGTH ? 'too-large' : 'issuer' });
      return null;
    }
    const identity = await verifier.verify({ user: EXCHANGE_USER, password: subjectToken, clientIp, onRefused });
    return identity && withGroups(identity, groupSources);
  };
}

/**
 * Where failures are counted: in the Redis replicas share, else in the primary the workers share,
 * else in this process's memory; each later one takes the attempts while those before it cannot be
 * asked (Redis down), so `workers: N` never multiplies the limits by N.
 */
function loginThrottle(config: Config, { redis, workerRecords }: AssembleOptions): LoginThrottle {
  const settings = config.auth.throttle;
  const [store, ...fallbacks]: CounterStore[] = [
    ...(redis ? [new RedisCounterStore(redis, settings)] : []),
    ...(workerRecords ? [new SharedCounterStore(workerRecords, settings)] : []),
    new MemoryCounterStore(settings),
  ];
  return new LoginThrottle(settings, { store, fallbacks });
}
