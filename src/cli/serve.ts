/** `registry-gate serve`: starts the gateway; SIGHUP reloads TLS, SIGTERM/SIGINT shut down gracefully. */
import { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import { createLoggers } from '../log.js';
import { startRegistryGate } from '../app.js';

interface ServeFlags {
  config?: string;
  listen?: string;
  upstream?: string;
  htpasswd?: string;
  tlsCert?: string;
  tlsKey?: string;
}

export function serveCommand(): Command {
  return new Command('serve')
    .description('start registry-gate (without a config file: the built-in registry under ./data, TLS and an admin user created on first start)')
    .option('-c, --config <file>', 'YAML configuration file')
    .option('--listen <host:port>', 'address to listen on (overrides listen)')
    .option('--upstream <url>', 'forward to this registry instead of the built-in one (overrides upstream.url)')
    .option('--htpasswd <file>', 'htpasswd file (overrides auth.htpasswd)')
    .option('--tls-cert <file>', 'PEM certificate or chain (overrides tls.cert)')
    .option('--tls-key <file>', 'PEM private key (overrides tls.key)')
    .action(async (flags: ServeFlags) => {
      const config = await loadConfig({
        file: flags.config,
        overrides: { listen: flags.listen, upstream: flags.upstream, htpasswd: flags.htpasswd, tlsCert: flags.tlsCert, tlsKey: flags.tlsKey },
      });
      const loggers = createLoggers({ level: config.log.level, format: config.log.format });
      const announce = (line: string) => process.stdout.write(`${line}\n`);
      const gate = await startRegistryGate(config, loggers, { announce });
      // Printed whatever the log level: scripts and supervisors wait for this line.
      announce(`registry-gate is listening on ${gate.url} (${gate.backendName === 'upstream' ? `upstream ${config.upstream?.url}` : `built-in registry in ${config.storage.root}`})`);

      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        loggers.app.info({ signal, graceMs: config.server.shutdownGrace }, 'shutting down');
        gate.close(config.server.shutdownGrace).then(
          () => process.exit(0),
          (error: unknown) => {
            loggers.app.error({ err: error }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGHUP', () => void gate.reload('SIGHUP'));
    });
}
