/**
 * The composition root: config in, a listening registry-gate out. What lives as long as the process
 * is made here once — the listener and its TLS, the built-in registry, metrics and their listener,
 * locks; the stages one config decides are built by src/stages.ts.
 */
import type { SecureContextOptions } from 'node:tls';
import type { Config } from './config/load.js';
import { splitHostPort } from './config/load.js';
import type { Loggers } from './log.js';
import { prepareFirstRun, type FirstRunOutput } from './first-run.js';
import type { Backend } from './backend/backend.js';
import { createFilesystemBackend } from './backend/filesystem/index.js';
import { catalogCursors } from './gateway/catalog-cursor.js';
import { listen, type Listener } from './server/listen.js';
import { processSharedLock } from './server/cluster-lock.js';
import { isWorkerProcess, takeWorkerSecret } from './server/cluster.js';
import { TlsReloader, ensureSelfSignedPair, readTlsPair } from './server/tls.js';
import { GateMetrics } from './metrics/gate-metrics.js';
import { serveMetrics, type MetricsListener } from './metrics/listener.js';
import { shareWithPrimary } from './metrics/cluster.js';
import { buildStages, type LongLived, type Stages } from './stages.js';

export { prepareFirstRun } from './first-run.js';

export interface RunningGate {
  readonly url: string;
  readonly backendName: string;
  readonly listener: Listener;
  /** Where Prometheus scrapes (`…/metrics`), when `metrics` is on and this process serves them. */
  readonly metricsUrl: string | undefined;
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
  const files = config.tls.mode === 'files' ? config.tls : (await ensureSelfSignedPair(config.tls.dir)).files;
  return { options: await readTlsPair(files), files };
}

async function startMetrics(config: Config, metrics: GateMetrics, loggers: Loggers): Promise<MetricsListener | undefined> {
  if (!config.metrics) return undefined;
  metrics.collectProcessMetrics();
  // With several workers the primary serves the sum of theirs (src/metrics/cluster.ts).
  if (isWorkerProcess()) return void shareWithPrimary(metrics.registry);
  const { host, port } = splitHostPort(config.metrics.listen);
  return serveMetrics(host, port, metrics, (error) => loggers.app.error({ err: error }, 'collecting metrics failed'));
}

export async function startRegistryGate(config: Config, loggers: Loggers, options: StartOptions = {}): Promise<RunningGate> {
  await prepareFirstRun(config, options.firstRun ?? { announce: () => undefined, terminal: false });
  const tls = await tlsOptions(config);
  const metrics = new GateMetrics();
  const builtin: Backend | undefined = config.upstream
    ? undefined
    : await createFilesystemBackend({ root: config.storage.root, uploadMaxAgeMs: config.storage.uploadMaxAge, logger: loggers.app });
  const long: LongLived = {
    loggers,
    metrics,
    listenerScheme: tls.options ? 'https' : 'http',
    tagLock: processSharedLock(),
    catalogCursors: catalogCursors(takeWorkerSecret()),
    builtin,
  };
  const stages: Stages = await buildStages(config, long);

  const { host, port } = splitHostPort(config.listen);
  const listener = await listen(
    {
      host,
      port,
      tls: tls.options,
      headersTimeoutMs: config.server.headersTimeout,
      idleTimeoutMs: config.server.idleTimeout,
      keepAliveTimeoutMs: config.server.keepAliveTimeout,
    },
    stages.handler,
  );
  const metricsListener = await startMetrics(config, metrics, loggers);
  const reloader = tls.files ? new TlsReloader(tls.files, (next) => listener.setTls(next), loggers.app) : undefined;

  return {
    url: listener.url,
    backendName: stages.backend.name,
    listener,
    metricsUrl: metricsListener?.url,
    async reload(reason) {
      stages.audit.reopen();
      await Promise.all([reloader?.reload(reason), stages.auth.reload()]);
    },
    async close(graceMs = 0) {
      reloader?.close();
      await listener.shutdown(graceMs);
      await Promise.all([stages.close(), builtin?.close(), metricsListener?.close()]);
    },
  };
}
