/**
 * `registry-gate serve`: starts the gateway, in `workers` processes sharing the listening socket
 * when there are several. SIGHUP re-reads the config (as at start: file, environment, flags) and
 * applies what changed, and re-reads TLS, htpasswd, group file and audit file; the config file is
 * also watched. SIGTERM/SIGINT shut down gracefully. The listening banner and first-run facts go
 * to stderr; stdout carries only JSON log lines (src/log.ts).
 */
import { Command } from 'commander';
import { environmentHelp } from '../config/env.js';
import { loadConfig, splitHostPort, type Config } from '../config/load.js';
import { otherListeningUrls } from '../server/self-signed.js';
import { announce, createLoggers } from '../log.js';
import { isWorkerProcess, reportListening, startWorkers } from '../server/cluster.js';
import { COMMAND_FAILURE, guard } from './_failure.js';

interface ServeFlags {
  config?: string;
  listen?: string;
  upstream?: string;
  htpasswd?: string;
  tlsCert?: string;
  tlsKey?: string;
}

/** First-run facts go where `announce` writes; the admin password itself only to a terminal. */
// isTTY is undefined, not false, when stderr is not a terminal, whatever its type says.
const firstRun = { announce, terminal: (process.stderr.isTTY as boolean | undefined) === true };

function describeBackend(config: Config): string {
  return config.upstream ? `upstream ${config.upstream.url}` : `built-in registry in ${config.storage.root}`;
}

/** The banner: the first URL, what serves, and every other address a wildcard listener answers on. */
function listeningBanner(config: Config, url: string, detail: string): string {
  const others = otherListeningUrls(url, splitHostPort(config.listen).host);
  return `registry-gate is listening on ${url} (${detail})${others.length > 0 ? `, also on ${others.join(', ')}` : ''}`;
}

/** Runs `close` once on SIGTERM/SIGINT and exits 0 when it settles; SIGHUP calls `reload`. */
function onSignals(close: () => Promise<void>, reload: () => void, log: (message: string, error?: unknown) => void): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: shutting down`);
    close().then(
      () => process.exit(0),
      (error: unknown) => {
        log('shutdown failed', error);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', reload);
}

/** In the primary of several workers: the metrics listener, serving the sum of the workers' metrics. */
async function serveWorkersMetrics(listen: string, log: (message: string, error?: unknown) => void) {
  const [{ serveMetrics }, { workersMetrics }] = await Promise.all([import('../metrics/listener.js'), import('../metrics/cluster.js')]);
  const { host, port } = splitHostPort(listen);
  return serveMetrics(host, port, workersMetrics(), (error) => log('collecting metrics from the workers failed', error));
}

export function serveCommand(): Command {
  return new Command('serve')
    .description(
      'start registry-gate (without a config file: the built-in registry under ./data, TLS and an admin user created on first start)',
    )
    .option('-c, --config <file>', 'YAML configuration file (default: $REGISTRY_GATE_CONFIG, else none)')
    .option('--listen <host:port>', 'address to listen on (overrides listen)')
    .option('--upstream <url>', 'forward to this registry instead of the built-in one (overrides upstream.url)')
    .option('--htpasswd <file>', 'htpasswd file (overrides auth.htpasswd)')
    .option('--tls-cert <file>', 'PEM certificate or chain (overrides tls.cert)')
    .option('--tls-key <file>', 'PEM private key (overrides tls.key)')
    .addHelpText('after', `\n${environmentHelp()}`)
    .action(
      guard(COMMAND_FAILURE, async (flags: ServeFlags) => {
        const load = () =>
          loadConfig({
            file: flags.config,
            overrides: {
              listen: flags.listen,
              upstream: flags.upstream,
              htpasswd: flags.htpasswd,
              tlsCert: flags.tlsCert,
              tlsKey: flags.tlsKey,
            },
          });
        const config = await load();
        const loggers = createLoggers({ level: config.log.level, format: config.log.format });
        const log = (message: string, error?: unknown) => (error ? loggers.app.error({ err: error }, message) : loggers.app.info(message));

        if (config.workers > 1 && !isWorkerProcess()) {
          // The gateway's code is loaded where it runs, in the workers, not in this supervising primary.
          await (await import('../assembly/first-run.js')).prepareFirstRun(config, firstRun);
          // Room for the throttle's three kinds of counters, as each process would keep them.
          const workers = await startWorkers(config.workers, loggers.app, { maxSharedRecords: 3 * config.auth.throttle.maxTrackedKeys });
          const metrics = config.metrics && (await serveWorkersMetrics(config.metrics.listen, log));
          // Printed whatever the log level: scripts and supervisors wait for this line.
          announce(listeningBanner(config, workers.url, `${describeBackend(config)}, ${config.workers} workers`));
          onSignals(
            () => Promise.all([workers.close(), metrics?.close()]).then(() => undefined),
            () => workers.reload(),
            log,
          );
          return;
        }

        const gate = await (await import('../assembly/app.js')).startRegistryGate(config, loggers, { firstRun, loadConfig: load });
        if (isWorkerProcess()) reportListening(gate.url);
        else announce(listeningBanner(config, gate.url, describeBackend(config)));
        onSignals(
          () => gate.close(config.server.shutdownGrace),
          () => void gate.reload('SIGHUP'),
          log,
        );
      }),
    );
}
