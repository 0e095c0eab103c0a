/**
 * The composition root: config in, a listening registry-gate out. Everything else is built from
 * here, once, and frozen; this file wires the stages of ARCHITECTURE.md together and holds no logic
 * of its own beyond choosing the backend.
 */
import type { SecureContextOptions } from 'node:tls';
import type { Config } from './config/load.js';
import { splitHostPort } from './config/load.js';
import type { Loggers } from './log.js';
import { AccessPolicy } from './access/policy.js';
import { NO_AUDIT, openAuditSink } from './access/audit.js';
import { createAuthenticator } from './auth/authenticate.js';
import { ensureFirstRunAdmin } from './auth/first-run.js';
import { HtpasswdProvider } from './auth/htpasswd/provider.js';
import { CachedVerifier } from './auth/credential-cache.js';
import { ProviderChain } from './auth/chain.js';
import { configGroups, type GroupSource } from './auth/groups.js';
import { GroupFile } from './auth/group-file.js';
import { LdapProvider } from './auth/ldap/index.js';
import { LoginThrottle, ThrottledProvider } from './auth/throttle.js';
import type { AuthProvider } from './auth/identity.js';
import type { Backend } from './backend/backend.js';
import { UpstreamBackend } from './backend/upstream/index.js';
import { createFilesystemBackend } from './backend/filesystem/index.js';
import { createGateway } from './gateway/pipeline.js';
import { compileAddressMatcher } from './gateway/cidr.js';
import { listen, type Listener } from './server/listen.js';
import { TlsReloader, ensureSelfSignedPair, readTlsPair } from './server/tls.js';

export interface RunningGate {
  readonly url: string;
  readonly backendName: string;
  readonly listener: Listener;
  /** Re-reads the TLS pair and the htpasswd file now (both are also watched for changes), reopens the audit file. */
  reload(reason: string): Promise<void>;
  close(graceMs?: number): Promise<void>;
}

export interface StartOptions {
  /** Where one-time first-run facts (generated password, certificate fingerprint) are printed. */
  announce?: (line: string) => void;
}

/**
 * What a first start creates once: the self-signed TLS pair (`tls: auto`) and the htpasswd file with
 * an admin user (when no htpasswd is configured). Idempotent; run by the primary before workers fork.
 */
export async function prepareFirstRun(config: Config, announce: (line: string) => void): Promise<void> {
  if (config.tls.mode === 'auto') {
    const generated = await ensureSelfSignedPair(config.tls.dir);
    if (generated.created) announce(`Generated a self-signed TLS certificate in ${config.tls.dir} (SHA-256 fingerprint ${generated.fingerprint})`);
  }
  if (config.auth.htpasswdIsDefault) await ensureFirstRunAdmin(config.auth.htpasswd, announce);
}

async function tlsOptions(config: Config): Promise<{ options?: SecureContextOptions; files?: { cert: string; key: string } }> {
  if (config.tls.mode === 'off') return {};
  const files = config.tls.mode === 'files' ? config.tls : (await ensureSelfSignedPair(config.tls.dir)).files;
  return { options: await readTlsPair(files), files };
}

async function createBackend(config: Config, loggers: Loggers): Promise<Backend> {
  if (config.upstream) {
    return new UpstreamBackend({
      url: config.upstream.url,
      timeoutMs: config.upstream.timeout,
      connections: config.upstream.connections,
      caFile: config.upstream.ca,
      dropHeaders: config.auth.trustedHeader ? [config.auth.trustedHeader.user, config.auth.trustedHeader.groups ?? ''].filter(Boolean) : [],
      logger: loggers.app,
    });
  }
  return createFilesystemBackend({ root: config.storage.root, uploadMaxAgeMs: config.storage.uploadMaxAge, logger: loggers.app });
}

export async function startRegistryGate(config: Config, loggers: Loggers, options: StartOptions = {}): Promise<RunningGate> {
  const announce = options.announce ?? (() => undefined);
  await prepareFirstRun(config, announce);
  const tls = await tlsOptions(config);

  const htpasswd = await HtpasswdProvider.open({ file: config.auth.htpasswd, logger: loggers.app });
  const ldap = config.auth.ldap ? await LdapProvider.open({ config: config.auth.ldap, logger: loggers.app }) : undefined;
  ldap?.probe().catch(() => undefined); // logs why; the gateway still starts and answers 503 for LDAP users
  const byName: Record<string, AuthProvider | undefined> = { htpasswd, ldap };
  const chain = new ProviderChain(config.auth.providers.map((name) => byName[name] as AuthProvider));
  // Throttling sits behind the cache: correct credentials answered from the cache are never slowed.
  const throttled = config.auth.throttle.enabled ? new ThrottledProvider(chain, new LoginThrottle(config.auth.throttle)) : chain;
  const verifier = new CachedVerifier(throttled, { ttlMs: config.auth.cacheTtl, maxEntries: config.auth.cacheSize });
  htpasswd.onChange(() => verifier.flush());
  const groupFile = config.auth.groupFile ? await GroupFile.open({ file: config.auth.groupFile, logger: loggers.app }) : undefined;
  const groupSources: GroupSource[] = [configGroups(config.groups), ...(groupFile ? [(user: string) => groupFile.groupsOf(user)] : [])];
  const backend = await createBackend(config, loggers);
  const audit = config.audit.enabled ? openAuditSink(config.audit.file) : NO_AUDIT;

  const { host, port } = splitHostPort(config.listen);
  const handler = createGateway({
    realm: config.auth.realm,
    rejectLegacyDocker: config.clients.rejectLegacyDocker,
    trustedProxy: compileAddressMatcher(config.trustedProxies),
    scheme: tls.options ? 'https' : 'http',
    authenticate: createAuthenticator(verifier, groupSources),
    trustedHeader: config.auth.trustedHeader,
    policy: new AccessPolicy(config.access),
    backend,
    audit,
    loggers,
    accessLog: config.log.access,
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
      await Promise.all([reloader?.reload(reason), htpasswd.reload(), groupFile?.reload()]);
    },
    async close(graceMs = 0) {
      reloader?.close();
      await listener.shutdown(graceMs);
      await Promise.all([backend.close(), chain.close(), groupFile?.close(), audit.close()]);
    },
  };
}
