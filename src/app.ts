/**
 * The composition root: config in, a listening registry-gate out. Every stage is built here once
 * from the frozen config and wired to the next; this file holds no logic of its own beyond choosing
 * the backend.
 */
import type { SecureContextOptions } from 'node:tls';
import type { Config } from './config/load.js';
import { splitHostPort } from './config/load.js';
import type { Loggers } from './log.js';
import { AccessPolicy } from './access/policy.js';
import { NO_AUDIT, openAuditSink } from './access/audit.js';
import { assembleAuth, type AuthStage } from './auth/assemble.js';
import { SigningKeys } from './auth/token/keys.js';
import { TokenService } from './auth/token/service.js';
import { prepareFirstRun, type FirstRunOutput } from './first-run.js';
import type { Backend } from './backend/backend.js';
import type { SectionLock } from './server/keyed-lock.js';
import { UpstreamBackend, type MintUpstreamToken } from './backend/upstream/index.js';
import { createFilesystemBackend } from './backend/filesystem/index.js';
import { createGateway } from './gateway/pipeline.js';
import { basicChallenge, tokenChallenge } from './gateway/challenge.js';
import { createTokenEndpoint } from './gateway/token-endpoint.js';
import { compileAddressMatcher } from './gateway/cidr.js';
import { catalogCursors } from './gateway/catalog-cursor.js';
import { listen, type Listener } from './server/listen.js';
import { processSharedLock } from './server/cluster-lock.js';
import { takeWorkerSecret } from './server/cluster.js';
import { TlsReloader, readTlsPair } from './server/tls.js';
import { selfSignedFiles } from './server/self-signed.js';

export { prepareFirstRun } from './first-run.js';

export interface RunningGate {
  readonly url: string;
  readonly backendName: string;
  readonly listener: Listener;
  /** Re-reads TLS, users, groups, robots and keys now (all are also watched), reopens the audit file. */
  reload(reason: string): Promise<void>;
  close(graceMs?: number): Promise<void>;
}

export interface StartOptions {
  /** Where one-time first-run facts (certificate fingerprint, where the admin password is) are printed. */
  firstRun?: FirstRunOutput;
}

async function tlsOptions(config: Config): Promise<{ options?: SecureContextOptions; files?: { cert: string; key: string } }> {
  if (config.tls.mode === 'off') return {};
  const files = config.tls.mode === 'files' ? config.tls : selfSignedFiles(config.tls.dir); // made by prepareFirstRun
  return { options: await readTlsPair(files), files };
}

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
          tokens: new TokenService({ issuer: config.auth.token.issuer, service: config.auth.token.service, keys, expiresInMs: config.auth.token.expiresIn }),
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

async function createBackend(config: Config, loggers: Loggers, upstreamTokens: MintUpstreamToken, lock: SectionLock): Promise<Backend> {
  if (config.upstream) {
    const sso = config.auth.trustedHeader;
    return new UpstreamBackend({
      url: config.upstream.url,
      timeoutMs: config.upstream.timeout,
      connections: config.upstream.connections,
      caFile: config.upstream.ca,
      dropHeaders: sso ? [sso.user, ...(sso.groups ? [sso.groups] : [])].flatMap((name) => [name, name.replace(/-/g, '_')]) : [],
      auth: config.upstream.auth,
      mintToken: upstreamTokens,
      logger: loggers.app,
    });
  }
  return createFilesystemBackend({ root: config.storage.root, uploadMaxAgeMs: config.storage.uploadMaxAge, logger: loggers.app, uploadLock: lock });
}

export async function startRegistryGate(config: Config, loggers: Loggers, options: StartOptions = {}): Promise<RunningGate> {
  await prepareFirstRun(config, options.firstRun ?? { announce: () => undefined, terminal: false });
  const tls = await tlsOptions(config);
  const auth = await assembleAuth(config, loggers.app);
  const policy = new AccessPolicy(config.access);
  const upstreamTokens = upstreamTokenMinter(config, auth, loggers);
  // One per process: protected-tag pushes and upload sessions, ordered across this server's workers.
  const sharedLock = processSharedLock();
  const backend = await createBackend(config, loggers, upstreamTokens.mint, sharedLock);
  const audit = config.audit.enabled ? openAuditSink(config.audit.file) : NO_AUDIT;
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
    });

  const { host, port } = splitHostPort(config.listen);
  const handler = createGateway({
    scheme: config.auth.scheme,
    challenge: config.auth.scheme === 'bearer' ? tokenChallenge(config.auth.token) : basicChallenge(config.auth.realm),
    tokenEndpoint,
    rejectLegacyDocker: config.clients.rejectLegacyDocker,
    trustedProxy: compileAddressMatcher(config.trustedProxies),
    listenerScheme: tls.options ? 'https' : 'http',
    authenticate: auth.authenticate,
    trustedHeader: config.auth.trustedHeader,
    policy,
    backend,
    tagLock: sharedLock,
    audit,
    loggers,
    accessLog: config.log.access,
    catalog: { scanLimit: config.catalog.scanLimit, cursors: catalogCursors(takeWorkerSecret()) },
  });
  const listener = await listen(
    {
      host,
      port,
      tls: tls.options,
      headersTimeoutMs: config.server.headersTimeout,
      idleTimeoutMs: config.server.idleTimeout,
      keepAliveTimeoutMs: config.server.keepAliveTimeout,
    },
    handler,
  );
  const reloader = tls.files ? new TlsReloader(tls.files, (next) => listener.setTls(next), loggers.app) : undefined;

  return {
    url: listener.url,
    backendName: backend.name,
    listener,
    async reload(reason) {
      audit.reopen();
      await Promise.all([reloader?.reload(reason), auth.reload()]);
    },
    async close(graceMs = 0) {
      reloader?.close();
      await listener.shutdown(graceMs);
      await Promise.all([backend.close(), auth.close(), audit.close(), upstreamTokens.close()]);
    },
  };
}
