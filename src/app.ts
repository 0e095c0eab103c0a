/**
 * The composition root: config in, a listening registry-gate out. What lives as long as the process
 * is made here once — the listener and its TLS, the built-in registry, metrics and their listener,
 * locks, the connection to the Redis that replicas share; the stages one config decides are built by src/stages.ts, and built again on a reload,
 * then swapped in through one reference (src/server/handler-switch.ts): new requests get the new
 * stages, requests in flight finish on the ones they started with, which are closed after them.
 */
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SecureContextOptions } from 'node:tls';
import type { Config } from './config/load.js';
import { splitHostPort } from './config/load.js';
import { planReload, sameSettings } from './config/changes.js';
import type { Loggers } from './log.js';
import { FileWatch } from './lib/watched-file.js';
import { prepareFirstRun, type FirstRunOutput } from './first-run.js';
import type { Backend } from './backend/backend.js';
import { createFilesystemBackend } from './backend/filesystem/index.js';
import { catalogCursors } from './access/catalog-cursor.js';
import { listen, type Listener } from './server/listen.js';
import { HandlerSwitch } from './server/handler-switch.js';
import { processSharedLock } from './server/cluster-lock.js';
import { workerSharedRecords } from './server/cluster-records.js';
import { isWorkerProcess, takeWorkerSecret } from './server/cluster.js';
import { TlsReloader, readTlsPair } from './server/tls.js';
import { selfSignedFiles } from './server/self-signed.js';
import type { SectionLock } from './lib/section-lock.js';
import { RedisLock } from './server/redis-lock.js';
import { RedisConnection } from './redis/connection.js';
import { sharedRedisConfig } from './auth/deployment-key.js';
import { GateMetrics } from './metrics/gate-metrics.js';
import { serveMetrics, type MetricsListener } from './metrics/listener.js';
import { shareWithPrimary } from './metrics/cluster.js';
import { buildStages, type LongLived, type Stages } from './stages.js';

export { prepareFirstRun } from './first-run.js';

/** How long a changed config file must stay unchanged before it is read. */
const CONFIG_SETTLE_MS = 300;

/**
 * Whether a changed config file is whole: an editor writing in place truncates it first, then
 * writes, perhaps in several steps. Its content must be the same twice, CONFIG_SETTLE_MS apart, and
 * not empty (an emptied file would mean "every key at its default"; SIGHUP still applies one).
 * When it is not, the watcher sees the next change and asks again.
 */
async function settled(file: string): Promise<boolean> {
  const read = () => readFile(file).catch(() => undefined);
  const first = await read();
  await sleep(CONFIG_SETTLE_MS);
  const second = await read();
  return first !== undefined && second !== undefined && first.equals(second) && second.toString('utf8').trim() !== '';
}

export interface RunningGate {
  readonly url: string;
  readonly backendName: string;
  readonly listener: Listener;
  /** Where Prometheus scrapes (`…/metrics`), when `metrics` is on and this process serves them. */
  readonly metricsUrl: string | undefined;
  /**
   * Re-reads TLS, users, groups, robots and keys now (all are also watched), reopens the audit
   * file, and re-reads the config when the gate was started with `loadConfig`.
   */
  reload(reason: string): Promise<void>;
  close(graceMs?: number): Promise<void>;
}

export interface StartOptions {
  /** Where one-time first-run facts (certificate fingerprint, where the admin password is) are printed. */
  firstRun?: FirstRunOutput;
  /**
   * Reads the config again as it was read at start (file, environment, flags), for reloads. With
   * it, a reload applies a changed config and the config file is watched; without it (a config
   * built in memory) a reload re-reads only the files the config names.
   */
  loadConfig?: () => Promise<Config>;
}

async function tlsOptions(config: Config): Promise<{ options?: SecureContextOptions; files?: { cert: string; key: string } }> {
  if (config.tls.mode === 'off') return {};
  const files = config.tls.mode === 'files' ? config.tls : selfSignedFiles(config.tls.dir); // made by prepareFirstRun
  return { options: await readTlsPair(files), files };
}

async function startMetrics(config: Config, metrics: GateMetrics, loggers: Loggers): Promise<MetricsListener | undefined> {
  if (!config.metrics) return undefined;
  metrics.collectProcessMetrics();
  // With several workers the primary serves the sum of theirs (src/metrics/cluster.ts).
  if (isWorkerProcess()) {
    shareWithPrimary(metrics.registry);
    return undefined;
  }
  const { host, port } = splitHostPort(config.metrics.listen);
  return serveMetrics(host, port, metrics, (error) => loggers.app.error({ err: error }, 'collecting metrics failed'));
}

export async function startRegistryGate(config: Config, loggers: Loggers, options: StartOptions = {}): Promise<RunningGate> {
  await prepareFirstRun(config, options.firstRun ?? { announce: () => undefined, terminal: false });
  const tls = await tlsOptions(config);
  const metrics = new GateMetrics();
  // Shared by replicas when configured; a Redis that is down at start-up is an outage to ride out, not a reason not to start.
  const redisConfig = await sharedRedisConfig(config);
  const redis = redisConfig ? await RedisConnection.open({ config: redisConfig, logger: loggers.app }) : undefined;
  // One lock for the whole server (protected-tag pushes, upload sessions of the built-in registry,
  // the UI's robot edits): Redis when replicas share state, else in a worker it talks to the
  // primary (one instance, or ids would collide).
  const sharedLock: SectionLock = redis ? new RedisLock({ redis, logger: loggers.app }) : processSharedLock();
  const builtin: Backend | undefined = config.upstream
    ? undefined
    : await createFilesystemBackend({
        root: config.storage.root,
        uploadMaxAgeMs: config.storage.uploadMaxAge,
        bodyTimeoutMs: config.server.bodyTimeout,
        logger: loggers.app,
        uploadLock: sharedLock,
      });
  const long: LongLived = {
    loggers,
    metrics,
    listenerScheme: tls.options ? 'https' : 'http',
    sharedLock,
    catalogCursors: catalogCursors(takeWorkerSecret()),
    builtin,
    redis,
    // One instance per process, like the lock: its message ids are its own.
    workerRecords: workerSharedRecords(),
  };
  let stages: Stages = await buildStages(config, long);
  const handlers = new HandlerSwitch(stages.handler);
  /** Generations replaced by a reload whose last requests are still running. */
  const retiring = new Set<Stages>();

  const { host, port } = splitHostPort(config.listen);
  const listener = await listen(
    {
      host,
      port,
      tls: tls.options,
      headersTimeoutMs: config.server.headersTimeout,
      idleTimeoutMs: config.server.idleTimeout,
      keepAliveTimeoutMs: config.server.keepAliveTimeout,
      handshakeTimeoutMs: config.server.handshakeTimeout,
      requestTimeoutMs: config.server.requestTimeout,
      caps: {
        maxConnections: config.server.maxConnections,
        maxConnectionsPerClient: config.server.maxConnectionsPerClient,
        // Read at each connection: a reload may change who the trusted proxies are.
        sharedPeer: (peer) => stages.trustedProxy(peer),
      },
      observer: {
        opened: () => metrics.connectionOpened(),
        closed: () => metrics.connectionClosed(),
        refused: (limit) => metrics.connectionRefused(limit),
        deadlineExpired: (deadline) => metrics.connectionTimedOut(deadline),
      },
    },
    handlers.handle,
  );
  const metricsListener = await startMetrics(config, metrics, loggers);
  const reloader = tls.files ? await TlsReloader.open(tls.files, (next) => listener.setTls(next), loggers.app) : undefined;

  /** The config as last read and applied (restart-only keys included), to tell the watcher's repeats from changes. */
  let lastApplied = config;

  /** Reads the config again and swaps in stages built from it; a config that fails keeps the running one. */
  async function applyConfig(reason: string, countUnchanged: boolean): Promise<void> {
    if (!options.loadConfig) return;
    const refused = (error: unknown) => {
      metrics.configReloaded('failed');
      loggers.app.error(
        { reason, problem: error instanceof Error ? error.message : String(error) },
        'config reload failed; keeping the running config',
      );
    };
    let next: Config;
    try {
      next = await options.loadConfig();
    } catch (error) {
      refused(error);
      return;
    }
    // The watcher often sees again what a SIGHUP already applied: that is no reload.
    if (!countUnchanged && sameSettings(next, lastApplied)) return;
    const plan = planReload(stages.config, next);
    if (plan.needsRestart.length > 0)
      loggers.app.warn({ reason, keys: plan.needsRestart }, 'config change needs a restart to apply; the rest of the config is applied');
    const live = plan.changed.filter((key) => !plan.needsRestart.includes(key));
    if (live.length > 0) {
      const running = stages;
      const keepAudit = sameSettings(running.config.audit, plan.effective.audit);
      const keepThrottle = sameSettings(running.config.auth.throttle, plan.effective.auth.throttle);
      let fresh: Stages;
      try {
        fresh = await buildStages(plan.effective, long, {
          audit: keepAudit ? running.audit : undefined,
          throttle: keepThrottle ? running.auth.throttle : undefined,
        });
      } catch (error) {
        refused(error);
        return;
      }
      if (keepAudit) running.releaseAudit();
      stages = fresh;
      retiring.add(running);
      void handlers.swap(fresh.handler).then(async () => {
        retiring.delete(running);
        await running.close();
        loggers.app.info({ reason }, 'the previous config was closed after its last request');
      });
      loggers.app.info({ reason, changed: live }, 'config reloaded');
    }
    lastApplied = next;
    metrics.configReloaded('ok');
  }

  let reloading: Promise<void> = Promise.resolve();
  /** `signal`: asked for (SIGHUP), so the files are re-read too and an unchanged config still counts as a reload. */
  const reload = (reason: string, signal: boolean): Promise<void> =>
    (reloading = reloading
      .then(async () => {
        if (signal) {
          stages.audit.reopen();
          await Promise.all([reloader?.reload(reason), stages.auth.reload()]);
        }
        await applyConfig(reason, signal);
      })
      .catch((error: unknown) => loggers.app.error({ reason, err: error }, 'reload failed')));
  const source = config.source;
  const configWatch =
    options.loadConfig && source
      ? new FileWatch(source, () => settled(source).then((still) => (still ? reload('config file changed', false) : undefined)))
      : undefined;
  await configWatch?.prime();

  return {
    url: listener.url,
    backendName: stages.backend.name,
    listener,
    metricsUrl: metricsListener?.url,
    reload: (reason) => reload(reason, true),
    async close(graceMs = 0) {
      await configWatch?.close();
      reloader?.close();
      await listener.shutdown(graceMs);
      await reloading;
      await Promise.all([stages.close(), ...[...retiring].map((old) => old.close()), builtin?.close(), metricsListener?.close()]);
      redis?.close();
    },
  };
}
