/**
 * One generation: what one config decides, built top to bottom into one request handler, and
 * built anew on every reload that changes something (src/assembly/reload.ts swaps it in). In the
 * order it is assembled:
 *
 *   token service → identity → access policy → backend → audit sink → token endpoint → web UI →
 *   readiness checks → the request pipeline
 *
 * Everything a generation opens (watched files, directory connections, the upstream pool, the
 * UI's session state, keys) goes on the generation's own close stack the moment it is opened, so
 * a build that fails half-way closes what it had opened before the error reaches the reload, and
 * a retired generation closes in one call. What lives as long as the process (the listener, the
 * built-in registry, metrics, locks, Redis) is made by src/assembly/app.ts and handed in.
 */
import { join } from 'node:path';
import type { Config } from '../config/load.js';
import type { Loggers } from '../log.js';
import { CloseStack } from '../lib/close-stack.js';
import { InternalError } from '../lib/internal-errors.js';
import { compileAddressMatcher, type AddressMatcher } from '../lib/ip.js';
import { AccessPolicy } from '../access/policy.js';
import { NO_AUDIT, openAuditSink, type AuditSink } from '../access/audit.js';
import { credentialsEndedRecord } from '../access/credential-events.js';
import { assembleAuth, type AuthStage } from '../auth/assemble.js';
import { ssoHeaderNames } from '../auth/sso-headers.js';
import type { LoginThrottle } from '../auth/throttle/index.js';
import { SigningKeys } from '../auth/token/keys.js';
import { TokenService } from '../auth/token/service.js';
import type { Backend } from '../backend/backend.js';
import { UpstreamBackend, type MintUpstreamToken } from '../backend/upstream/index.js';
import { openSharedCache, withContentCache } from './content-cache.js';
import { withMirrors } from './mirrors.js';
import type { SharedCache } from '../backend/cache/index.js';
import { mirrorFor, type MirrorRoute } from '../backend/mirrors/index.js';
import { createGateway, type RequestHandler } from '../gateway/pipeline.js';
import { basicChallenge, tokenChallenge } from '../gateway/challenge.js';
import { createTokenEndpoint, type TokenEndpoint } from '../gateway/token-endpoint.js';
import type { CatalogPaging } from '../access/catalog.js';
import { cachedCheck, createHealthEndpoint, type ReadinessCheck } from '../gateway/health.js';
import type { SectionLock } from '../lib/section-lock.js';
import type { ClusterRecords } from '../server/cluster-records.js';
import type { GateMetrics } from '../metrics/gate-metrics.js';
import type { RedisConnection } from '../redis/connection.js';
import { createWebUi, type WebUi } from '../ui/index.js';
import type { EventService } from '../events/index.js';
import { withLoginFailedEvents } from '../events/login-failed.js';
import { SignaturePolicies } from '../signatures/index.js';

/** What lives as long as the process, made once by src/assembly/app.ts and handed to every generation. */
export interface ProcessResources {
  readonly loggers: Loggers;
  readonly metrics: GateMetrics;
  readonly listenerScheme: 'http' | 'https';
  /** Protected-tag pushes and the UI's robot edits: across workers, or across replicas through Redis. */
  readonly sharedLock: SectionLock;
  readonly catalogCursors: CatalogPaging['cursors'];
  /** The built-in registry, when there is no upstream (its storage root needs a restart to change). */
  readonly builtin: Backend | undefined;
  /** The Redis replicas share, when `redis` is configured (a change needs a restart). */
  readonly redis: RedisConnection | undefined;
  /** The records the primary keeps for its workers (the throttle's counters); undefined in a single process. */
  readonly workerRecords: ClusterRecords | undefined;
  /** The webhooks' queue and deliveries, when `events.webhooks` names one (a change needs a restart). */
  readonly events?: EventService | undefined;
}

/** What a new generation may take over from the running one instead of making anew. */
export interface Carried {
  /** The audit sink, when the audit settings did not change. */
  readonly audit?: AuditSink | undefined;
  /** The login throttle and its failure counts, when its settings did not change. */
  readonly throttle?: LoginThrottle | undefined;
}

export interface Generation {
  readonly config: Config;
  readonly handler: RequestHandler;
  readonly auth: AuthStage;
  readonly backend: Backend;
  readonly audit: AuditSink;
  /** `trustedProxies`, compiled: the listener's connection caps count such a peer only toward the total. */
  readonly trustedProxy: AddressMatcher;
  /** Hands the audit sink over to the next generation: this one's close then leaves it open. */
  releaseAudit(): void;
  /** Closes everything this generation opened, last opened first; once. */
  close(): Promise<void>;
}

/** How long a readiness answer is reused, and how long a check may take before it counts as failed. */
const STORAGE_CHECK_TTL_MS = 1_000;
const REMOTE_CHECK_TTL_MS = 2_000;
const CHECK_TIMEOUT_MS = 3_000;

/** The token service over `auth.token`'s keys, its key file watched until the stack closes. */
async function openTokenService(config: Config, stack: CloseStack, loggers: Loggers): Promise<TokenService> {
  const settings = config.auth.token;
  const keys = stack.adopt(await SigningKeys.open({ dir: settings.keyDir, algorithm: settings.algorithm, logger: loggers.app }), (opened) =>
    opened.close(),
  );
  return new TokenService({
    issuer: settings.issuer,
    service: settings.service,
    keys,
    expiresInMs: settings.expiresIn,
    refreshExpiresInMs: settings.refreshExpiresIn,
  });
}

/**
 * The one token service of this generation: opened now when the token endpoint is on, else, for an
 * upstream that checks tokens, the first time the upstream asks for one (a gateway without either
 * never creates a signing key).
 */
function tokenServiceFor(
  config: Config,
  stack: CloseStack,
  loggers: Loggers,
  eager: TokenService | undefined,
): () => Promise<TokenService> {
  let opened: Promise<TokenService> | undefined = eager && Promise.resolve(eager);
  return () => (opened ??= openTokenService(config, stack, loggers));
}

/** Tokens of the gateway's own for an upstream in token mode, from the generation's token service. */
function upstreamTokenMinter(tokenService: () => Promise<TokenService>): MintUpstreamToken {
  return async (subject, access) => {
    const issued = await (await tokenService()).issueAccessToken({ user: subject, groups: [], via: 'token' }, access);
    return { token: issued.token, expiresInMs: issued.expiresIn * 1000 };
  };
}

/** The upstream registry of `config.upstream`, or the process's built-in one; the mirrors in front. */
async function openBackend(
  config: Config,
  resources: ProcessResources,
  stack: CloseStack,
  mintToken: MintUpstreamToken,
): Promise<{ backend: Backend; mirrors: readonly MirrorRoute[] }> {
  const { metrics } = resources;
  const cacheResources = { metrics, sharedLock: resources.sharedLock, logger: resources.loggers.app };
  const shared = await openSharedCache(config, cacheResources);
  const primary = openPrimary(config, resources, stack, mintToken, shared);
  const { backend, routes } = await withMirrors(config, shared, primary, stack, resources.loggers.app);
  return { backend, mirrors: routes };
}

function openPrimary(
  config: Config,
  resources: ProcessResources,
  stack: CloseStack,
  mintToken: MintUpstreamToken,
  shared: SharedCache | undefined,
): Backend {
  const { upstream } = config;
  if (!upstream) {
    if (!resources.builtin)
      throw new InternalError('RG_ERR_NEEDS_RESTART', 'the built-in registry is not running: switching to it needs a restart');
    return resources.builtin;
  }
  const sso = config.auth.trustedHeader;
  const { metrics } = resources;
  const backend = new UpstreamBackend({
    url: upstream.url,
    timeoutMs: upstream.timeout,
    connections: upstream.connections,
    caFile: upstream.ca,
    dropHeaders: ssoHeaderNames(sso),
    auth: upstream.auth,
    mintToken,
    logger: resources.loggers.app,
    observer: {
      responded: (method, seconds) => metrics.upstreamResponded(method, seconds),
      failed: (reason) => metrics.upstreamFailed(reason),
    },
  });
  stack.defer(() => backend.close());
  return withContentCache(config, shared, backend);
}

/**
 * The audit sink the running generation hands over, else a new one; closed with this generation
 * unless handed on. A sink handed over becomes this generation's once the build has succeeded
 * (`adopt`): a build that fails leaves it to the running generation, and a generation that took it
 * over closes it when it is replaced by one with other audit settings.
 */
function auditSinkFor(
  config: Config,
  resources: ProcessResources,
  carried: Carried,
  stack: CloseStack,
): { audit: AuditSink; adopt(): void; release(): void } {
  const open = () => openAuditSink(config.audit, { logger: resources.loggers.app, syslog: resources.metrics.auditSyslog });
  const audit = carried.audit ?? (config.audit.enabled ? open() : NO_AUDIT);
  let owned = carried.audit === undefined;
  stack.defer(async () => {
    if (owned) await audit.close();
  });
  return {
    audit,
    adopt() {
      owned = true;
    },
    release() {
      owned = false;
    },
  };
}

function readinessChecks(backend: Backend, auth: AuthStage): ReadinessCheck[] {
  const checks = [
    backend.name === 'upstream'
      ? cachedCheck({ name: 'upstream', ready: () => backend.ready() }, REMOTE_CHECK_TTL_MS, CHECK_TIMEOUT_MS)
      : cachedCheck({ name: 'storage', ready: () => backend.ready() }, STORAGE_CHECK_TTL_MS, CHECK_TIMEOUT_MS),
  ];
  const directory = auth.directoryReady;
  if (directory) checks.push(cachedCheck({ name: 'ldap', ready: directory }, REMOTE_CHECK_TTL_MS, CHECK_TIMEOUT_MS));
  return checks;
}

/** What the token endpoint, the UI and the pipeline are made from. */
interface Parts {
  readonly config: Config;
  readonly resources: ProcessResources;
  readonly auth: AuthStage;
  readonly policy: AccessPolicy;
  readonly backend: Backend;
  readonly audit: AuditSink;
  readonly catalog: CatalogPaging;
  readonly mirrors: readonly MirrorRoute[];
}

function tokenEndpointOf({ config, resources, auth, policy, audit }: Parts): TokenEndpoint | undefined {
  return (
    auth.tokens &&
    createTokenEndpoint({
      tokens: auth.tokens,
      policy,
      authenticate: auth.authenticateBasic,
      verifyPassword: (credentials) => auth.verifyPassword(credentials),
      ...(config.auth.federation.length > 0 ? { exchangeToken: auth.exchangeToken } : {}),
      refreshIdentity: auth.refreshIdentity,
      realm: config.auth.realm,
      audit,
      logger: resources.loggers.app,
      onIssued: (kind) => resources.metrics.tokenIssued(kind),
      bodyTimeoutMs: config.server.bodyTimeout,
    })
  );
}

async function openWebUi(
  { config, resources, auth, policy, backend, audit, catalog, mirrors }: Parts,
  stack: CloseStack,
): Promise<WebUi | undefined> {
  if (!config.ui.enabled) return undefined;
  const { events } = resources;
  const ui = await createWebUi({
    policy,
    backend,
    audit,
    authenticate: auth.authenticateBasic,
    verifyPassword: (credentials) => auth.verifyPassword(credentials),
    refreshIdentity: auth.refreshIdentity,
    robots: { file: config.auth.token.robots, reload: () => auth.robots.reload(), revoked: (robot) => auth.robotRevoked(robot) },
    adminGroup: config.ui.adminGroup,
    webhooks: events && (() => events.status()),
    personalTokens: auth.owners.personalTokens,
    oidc: auth.owners.oidc,
    sessionTtlMs: config.ui.sessionTtl,
    stateDir: join(config.dataDir, 'ui'),
    lock: resources.sharedLock,
    catalog,
    bodyTimeoutMs: config.server.bodyTimeout,
    mirrorOf: (repository) => mirrorFor(mirrors, repository)?.origin,
    logger: resources.loggers.app,
  });
  stack.defer(() => ui.close());
  return ui;
}

/** The signature policies with their watched keys, when there are any. */
async function openSignaturePolicies(config: Config, stack: CloseStack, loggers: Loggers): Promise<SignaturePolicies | undefined> {
  if (config.signatures.length === 0) return undefined;
  const signatures = await SignaturePolicies.open(config.signatures, loggers.app);
  stack.defer(() => signatures.close());
  return signatures;
}

/** Builds every stage from `config`, or closes what it opened and throws: a reload that fails changes nothing. */
export async function buildGeneration(config: Config, resources: ProcessResources, carried: Carried = {}): Promise<Generation> {
  const { loggers, metrics } = resources;
  const [built, stack] = await CloseStack.openWith(
    async (stack) => {
      const eagerTokens = config.auth.tokenEndpoint ? await openTokenService(config, stack, loggers) : undefined;
      const tokenService = tokenServiceFor(config, stack, loggers, eagerTokens);
      const auth = await assembleAuth(config, loggers.app, {
        stack,
        tokens: eagerTokens,
        onVerified: (outcome) => metrics.login(outcome),
        throttle: carried.throttle,
        redis: resources.redis,
        workerRecords: resources.workerRecords,
        lock: resources.sharedLock,
      });
      const policy = new AccessPolicy(config.access);
      const signatures = await openSignaturePolicies(config, stack, loggers);
      const { backend, mirrors } = await openBackend(config, resources, stack, upstreamTokenMinter(tokenService));
      const auditSink = auditSinkFor(config, resources, carried, stack);
      // A user the OpenID provider no longer vouches for: their sessions and tokens ended, and why.
      auth.owners.onEnded((event) => auditSink.audit.record(credentialsEndedRecord(event)));
      // One catalog paging for /v2/_catalog and the UI's repository list: the same sealed cursors.
      const catalog: CatalogPaging = { scanLimit: config.catalog.scanLimit, cursors: resources.catalogCursors };
      // Refused logins are events too; the sink handed on to the next generation stays the plain one.
      const audit = withLoginFailedEvents(auditSink.audit, resources.events);
      const parts: Parts = { config, resources, auth, policy, backend, audit, catalog, mirrors };
      const ui = await openWebUi(parts, stack);
      const trustedProxy = compileAddressMatcher(config.trustedProxies);
      const handler = createGateway({
        scheme: config.auth.scheme,
        challenge: config.auth.scheme === 'bearer' ? tokenChallenge(config.auth.token) : basicChallenge(config.auth.realm),
        health: createHealthEndpoint(readinessChecks(backend, auth), { redis: resources.redis }),
        tokenEndpoint: tokenEndpointOf(parts),
        ui,
        rejectLegacyDocker: config.clients.rejectLegacyDocker,
        trustedProxy,
        listenerScheme: resources.listenerScheme,
        authenticate: auth.authenticate,
        trustedHeader: config.auth.trustedHeader,
        policy,
        signatures,
        backend,
        mirrors,
        tagLock: resources.sharedLock,
        audit,
        events: resources.events,
        loggers,
        accessLog: config.log.access,
        catalog,
        bodyTimeoutMs: config.server.bodyTimeout,
        metrics,
      });
      return { handler, auth, backend, auditSink, trustedProxy };
    },
    (error) => loggers.app.warn({ err: error }, 'closing part of a configuration failed'),
  );
  built.auditSink.adopt();
  return {
    config,
    handler: built.handler,
    auth: built.auth,
    backend: built.backend,
    audit: built.auditSink.audit,
    trustedProxy: built.trustedProxy,
    releaseAudit: () => built.auditSink.release(),
    close: () => stack.close(),
  };
}
