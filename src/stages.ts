/**
 * The stages one config decides — identity, access policy, upstream backend, token endpoint,
 * audit sink, readiness checks — built together into one request handler. `startRegistryGate`
 * (src/app.ts) builds them at start and again on each config reload, then swaps the handler; what
 * lives as long as the process (listeners, the built-in registry, metrics, locks) is passed in.
 */
import { join } from 'node:path';
import type { Config } from './config/load.js';
import type { Loggers } from './log.js';
import { AccessPolicy } from './access/policy.js';
import { NO_AUDIT, openAuditSink, type AuditSink } from './access/audit.js';
import { credentialsEndedRecord } from './access/credential-events.js';
import { assembleAuth, type AuthStage } from './auth/assemble.js';
import type { LoginThrottle } from './auth/throttle/index.js';
import { SigningKeys } from './auth/token/keys.js';
import { TokenService } from './auth/token/service.js';
import type { Backend } from './backend/backend.js';
import { UpstreamBackend, type MintUpstreamToken } from './backend/upstream/index.js';
import { createGateway, type RequestHandler } from './gateway/pipeline.js';
import { basicChallenge, tokenChallenge } from './gateway/challenge.js';
import { createTokenEndpoint } from './gateway/token-endpoint.js';
import { compileAddressMatcher } from './lib/ip.js';
import type { CatalogPaging } from './gateway/catalog.js';
import { cachedCheck, createHealthEndpoint, type ReadinessCheck } from './gateway/health.js';
import type { SectionLock } from './server/keyed-lock.js';
import type { GateMetrics } from './metrics/gate-metrics.js';
import type { RedisConnection } from './redis/connection.js';
import { createWebUi } from './ui/index.js';

/** What outlives a config reload. */
export interface LongLived {
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
}

/** What a new generation of stages may take over from the running one instead of making anew. */
export interface Carried {
  /** The audit sink, when the audit settings did not change. */
  readonly audit?: AuditSink | undefined;
  /** The login throttle and its failure counts, when its settings did not change. */
  readonly throttle?: LoginThrottle | undefined;
}

export interface Stages {
  readonly config: Config;
  readonly handler: RequestHandler;
  readonly auth: AuthStage;
  readonly backend: Backend;
  readonly audit: AuditSink;
  /** Hands the audit sink over to the next generation: this one's close then leaves it open. */
  releaseAudit(): void;
  /** Closes what this generation made (upstream pool, directory connections, watched files, keys); once. */
  close(): Promise<void>;
}

/** How long a readiness answer is reused, and how long a check may take before it counts as failed. */
const STORAGE_CHECK_TTL_MS = 1_000;
const REMOTE_CHECK_TTL_MS = 2_000;
const CHECK_TIMEOUT_MS = 3_000;

/**
 * Signs the gateway's own tokens for an upstream in token mode: with the token service when it is
 * on, else with auth.token's key, opened the first time a token is needed.
 */
function upstreamTokenMinter(config: Config, auth: AuthStage, loggers: Loggers): { mint: MintUpstreamToken; close(): Promise<void> } {
  let opened: Promise<{ tokens: TokenService; keys?: SigningKeys }> | undefined;
  const service = () =>
    (opened ??= auth.tokens
      ? Promise.resolve({ tokens: auth.tokens })
      : SigningKeys.open({ dir: config.auth.token.keyDir, algorithm: config.auth.token.algorithm, logger: loggers.app }).then((keys) => ({
          keys,
          tokens: new TokenService({
            issuer: config.auth.token.issuer,
            service: config.auth.token.service,
            keys,
            expiresInMs: config.auth.token.expiresIn,
          }),
        })));
  return {
    async mint(subject, access) {
      const issued = await (await service()).tokens.issueAccessToken({ user: subject, groups: [], via: 'token' }, access);
      return { token: issued.token, expiresInMs: issued.expiresIn * 1000 };
    },
    async close() {
      if (opened) await (await opened.catch(() => undefined))?.keys?.close();
    },
  };
}

function upstreamBackend(
  upstream: NonNullable<Config['upstream']>,
  config: Config,
  long: LongLived,
  mintToken: MintUpstreamToken,
): UpstreamBackend {
  const sso = config.auth.trustedHeader;
  const { metrics } = long;
  return new UpstreamBackend({
    url: upstream.url,
    timeoutMs: upstream.timeout,
    connections: upstream.connections,
    caFile: upstream.ca,
    dropHeaders: sso ? [sso.user, ...(sso.groups ? [sso.groups] : [])].flatMap((name) => [name, name.replace(/-/g, '_')]) : [],
    auth: upstream.auth,
    mintToken,
    logger: long.loggers.app,
    observer: {
      responded: (method, seconds) => metrics.upstreamResponded(method, seconds),
      failed: (reason) => metrics.upstreamFailed(reason),
    },
  });
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

/** Builds every stage from `config`, or closes what it made and throws: a reload that fails changes nothing. */
export async function buildStages(config: Config, long: LongLived, carried: Carried = {}): Promise<Stages> {
  const { loggers, metrics } = long;
  const auth = await assembleAuth(config, loggers.app, {
    onVerified: (outcome) => metrics.login(outcome),
    throttle: carried.throttle,
    redis: long.redis,
    lock: long.sharedLock,
  });
  const closers: Array<() => Promise<void>> = [() => auth.close()];
  const closeAll = () => Promise.all(closers.map((close) => close().catch(() => undefined))).then(() => undefined);
  try {
    const policy = new AccessPolicy(config.access);
    const upstreamTokens = upstreamTokenMinter(config, auth, loggers);
    closers.push(() => upstreamTokens.close());
    let backend: Backend;
    if (config.upstream) {
      const upstream = upstreamBackend(config.upstream, config, long, upstreamTokens.mint);
      closers.push(() => upstream.close());
      backend = upstream;
    } else if (long.builtin) {
      backend = long.builtin;
    } else {
      throw new Error('the built-in registry is not running: switching to it needs a restart');
    }
    let ownsAudit = carried.audit === undefined;
    const audit = carried.audit ?? (config.audit.enabled ? openAuditSink(config.audit.file) : NO_AUDIT);
    closers.push(async () => {
      if (ownsAudit) await audit.close();
    });
    auth.owners.onEnded((event) => audit.record(credentialsEndedRecord(event)));
    const tokenEndpoint =
      auth.tokens &&
      createTokenEndpoint({
        tokens: auth.tokens,
        policy,
        authenticate: auth.authenticateBasic,
        verifyPassword: (credentials) => auth.verifyPassword(credentials),
        refreshIdentity: auth.refreshIdentity,
        realm: config.auth.realm,
        audit,
        logger: loggers.app,
        onIssued: (kind) => metrics.tokenIssued(kind),
      });
    // One catalog paging for /v2/_catalog and the UI's repository list: the same sealed cursors.
    const catalog: CatalogPaging = { scanLimit: config.catalog.scanLimit, cursors: long.catalogCursors };
    const ui =
      config.ui.enabled &&
      (await createWebUi({
        policy,
        backend,
        audit,
        authenticate: auth.authenticateBasic,
        verifyPassword: (credentials) => auth.verifyPassword(credentials),
        refreshIdentity: auth.refreshIdentity,
        robots: { file: config.auth.token.robots, reload: () => auth.robots.reload() },
        adminGroup: config.ui.adminGroup,
        personalTokens: auth.owners.personalTokens,
        oidc: auth.owners.oidc,
        sessionTtlMs: config.ui.sessionTtl,
        stateDir: join(config.dataDir, 'ui'),
        lock: long.sharedLock,
        catalog,
        logger: loggers.app,
      }));
    if (ui) closers.push(() => ui.close());
    const handler = createGateway({
      scheme: config.auth.scheme,
      challenge: config.auth.scheme === 'bearer' ? tokenChallenge(config.auth.token) : basicChallenge(config.auth.realm),
      health: createHealthEndpoint(readinessChecks(backend, auth), { redis: long.redis }),
      tokenEndpoint,
      ui: ui || undefined,
      rejectLegacyDocker: config.clients.rejectLegacyDocker,
      trustedProxy: compileAddressMatcher(config.trustedProxies),
      listenerScheme: long.listenerScheme,
      authenticate: auth.authenticate,
      trustedHeader: config.auth.trustedHeader,
      policy,
      backend,
      tagLock: long.sharedLock,
      audit,
      loggers,
      accessLog: config.log.access,
      catalog,
      metrics,
    });
    let closing: Promise<void> | undefined;
    return {
      config,
      handler,
      auth,
      backend,
      audit,
      releaseAudit() {
        ownsAudit = false;
      },
      close() {
        return (closing ??= closeAll());
      },
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}
