/**
 * The composition root: config in, a listening registry-gate out, assembled top to bottom in
 * `startRegistryGate`. First what lives as long as the process, each piece registered on the
 * process's close stack as it is opened:
 *
 *   first-run files → TLS → metrics → Redis → the shared lock → the built-in registry →
 *   the first generation (src/assembly/generation.ts) → the listener → the metrics listener →
 *   the TLS watcher → the config watcher (src/assembly/reload.ts)
 *
 * then what one config decides, the generation, which a reload builds anew and swaps in
 * (src/assembly/reload.ts). A start that fails half-way closes what it had opened; `close` closes
 * everything, last opened first.
 */
import type { SecureContextOptions } from 'node:tls';
import type { Config } from '../config/load.js';
import { splitHostPort } from '../config/load.js';
import type { Loggers } from '../log.js';
import { CloseStack } from '../lib/close-stack.js';
import { prepareFirstRun, type FirstRunOutput } from './first-run.js';
import type { Backend } from '../backend/backend.js';
import { createFilesystemBackend } from '../backend/filesystem/index.js';
import { catalogCursors } from '../access/catalog-cursor.js';
import { listen, type Listener } from '../server/listen.js';
import { processSharedLock } from '../server/cluster-lock.js';
import { workerSharedRecords } from '../server/cluster-records.js';
import { isWorkerProcess, takeWorkerSecret } from '../server/cluster.js';
import { TlsReloader, readTlsPair } from '../server/tls.js';
import { selfSignedFiles } from '../server/self-signed.js';
import type { SectionLock } from '../lib/section-lock.js';
import { RedisLock } from '../server/redis-lock.js';
import { RedisConnection } from '../redis/connection.js';
import { sharedRedisConfig } from '../auth/deployment-key.js';
import { GateMetrics } from '../metrics/gate-metrics.js';
import { serveMetrics, type MetricsListener } from '../metrics/listener.js';
import { shareWithPrimary } from '../metrics/cluster.js';
import { buildGeneration, type ProcessResources } from './generation.js';
import { EventService } from '../events/index.js';
import { Generations } from './reload.js';

export { prepareFirstRun } from './first-run.js';

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

/** The webhooks' durable queue under dataDir/events and a delivery loop per webhook, counted in the metrics. */
function openEvents(config: Config, metrics: GateMetrics, loggers: Loggers): Promise<EventService> {
  return EventService.open({
    config: config.events,
    dataDir: config.dataDir,
    logger: loggers.app,
    observer: {
      tried: (webhook, _event, outcome, attempt) => metrics.events.tried(webhook, outcome.ok, attempt),
      deadLettered: (webhook) => metrics.events.deadLettered(webhook),
      dropped: (action) => metrics.events.dropped(action),
      depth: (count) => metrics.events.depth(count),
    },
  });
}

/** What the process holds for every generation, each piece on `stack` as it is opened. */
async function openProcessResources(
  config: Config,
  loggers: Loggers,
  listenerScheme: 'http' | 'https',
  stack: CloseStack,
): Promise<ProcessResources> {
  const metrics = new GateMetrics();
  // Shared by replicas when configured; a Redis that is down at start-up is an outage to ride out, not a reason not to start.
  const redisConfig = await sharedRedisConfig(config);
  const redis =
    redisConfig && stack.adopt(await RedisConnection.open({ config: redisConfig, logger: loggers.app }), (opened) => opened.close());
  // One lock for the whole server (protected-tag pushes, upload sessions of the built-in registry,
  // the UI's robot edits): Redis when replicas share state, else in a worker it talks to the
  // primary (one instance, or ids would collide).
  const sharedLock: SectionLock = redis ? new RedisLock({ redis, logger: loggers.app }) : processSharedLock();
  const builtin: Backend | undefined = config.upstream
    ? undefined
    : stack.adopt(
        await createFilesystemBackend({
          root: config.storage.root,
          uploadMaxAgeMs: config.storage.uploadMaxAge,
          bodyTimeoutMs: config.server.bodyTimeout,
          logger: loggers.app,
          uploadLock: sharedLock,
        }),
        (opened) => opened.close(),
      );
  // Only with a webhook: no queue, no file and no cost on any request otherwise.
  const events =
    config.events.webhooks.length > 0 ? stack.adopt(await openEvents(config, metrics, loggers), (opened) => opened.close()) : undefined;
  return {
    events,
    loggers,
    metrics,
    listenerScheme,
    sharedLock,
    catalogCursors: catalogCursors(takeWorkerSecret()),
    builtin,
    redis: redis || undefined,
    // One instance per process, like the lock: its message ids are its own.
    workerRecords: workerSharedRecords(),
  };
}

/** The listener on `config.listen`, its deadlines and connection caps from `config.server`. */
function openListener(
  config: Config,
  tls: SecureContextOptions | undefined,
  generations: Generations,
  metrics: GateMetrics,
): Promise<Listener> {
  const { host, port } = splitHostPort(config.listen);
  return listen(
    {
      host,
      port,
      tls,
      headersTimeoutMs: config.server.headersTimeout,
      idleTimeoutMs: config.server.idleTimeout,
      keepAliveTimeoutMs: config.server.keepAliveTimeout,
      handshakeTimeoutMs: config.server.handshakeTimeout,
      requestTimeoutMs: config.server.requestTimeout,
      caps: {
        maxConnections: config.server.maxConnections,
        maxConnectionsPerClient: config.server.maxConnectionsPerClient,
        // Read at each connection: a reload may change who the trusted proxies are.
        sharedPeer: (peer) => generations.current.trustedProxy(peer),
      },
      observer: {
        opened: () => metrics.connectionOpened(),
        closed: () => metrics.connectionClosed(),
        refused: (limit) => metrics.connectionRefused(limit),
        deadlineExpired: (deadline) => metrics.connectionTimedOut(deadline),
      },
    },
    generations.handlers.handle,
  );
}

export async function startRegistryGate(config: Config, loggers: Loggers, options: StartOptions = {}): Promise<RunningGate> {
  /** How long `close` lets requests in flight finish; set by the close that asks. */
  let graceMs = 0;
  const [gate] = await CloseStack.openWith(
    async (stack) => {
      await prepareFirstRun(config, options.firstRun ?? { announce: () => undefined, terminal: false });
      const tls = await tlsOptions(config);
      const resources = await openProcessResources(config, loggers, tls.options ? 'https' : 'http', stack);
      const { metrics } = resources;
      let reloader: TlsReloader | undefined;
      const generations = new Generations(await buildGeneration(config, resources), resources, {
        loadConfig: options.loadConfig,
        reloadProcessFiles: (reason) => reloader?.reload(reason) ?? Promise.resolve(),
      });
      stack.defer(() => generations.close());
      const listener = stack.adopt(await openListener(config, tls.options, generations, metrics), (opened) => opened.shutdown(graceMs));
      const metricsListener = await startMetrics(config, metrics, loggers);
      if (metricsListener) stack.defer(() => metricsListener.close());
      if (tls.files) {
        const opened = await TlsReloader.open(tls.files, (next) => listener.setTls(next), loggers.app);
        stack.defer(() => opened.close());
        reloader = opened;
      }
      await generations.watchConfig();
      const running: RunningGate = {
        url: listener.url,
        backendName: generations.current.backend.name,
        listener,
        metricsUrl: metricsListener?.url,
        reload: (reason) => generations.reload(reason, true),
        close(grace = 0) {
          graceMs = grace;
          return stack.close();
        },
      };
      return running;
    },
    (error) => loggers.app.warn({ err: error }, 'closing part of the server failed'),
  );
  return gate;
}
