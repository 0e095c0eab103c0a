/**
 * `registry-gate healthcheck`: is the server that this config describes answering? For container
 * HEALTHCHECKs and supervisors. It reads the same config as `serve` (--config, REGISTRY_GATE_CONFIG,
 * REGISTRY_GATE_*), sends one GET to the listening address on loopback and exits 0 when the answer
 * is one a healthy server gives, 1 otherwise.
 *
 * The probe is `GET /healthz`, which a live gateway answers 200 without credentials (see
 * src/gateway/health.ts; `/readyz` is for load balancers, which should stop sending traffic while
 * the upstream is down, whereas a container should not be restarted for it).
 */
import { Command } from 'commander';
import { Client } from 'undici';
import { errnoCode } from '../lib/errno.js';
import { loadConfig, splitHostPort } from '../config/load.js';
import { CliFailure, COMMAND_FAILURE, guard } from './_failure.js';

const PROBE = { path: '/healthz', healthy: [200] } as const;

/** Where to reach a server listening on `listen` from the same host. */
export function loopbackTarget(listen: string): { host: string; port: number } {
  const { host, port } = splitHostPort(listen);
  if (host === '0.0.0.0' || host === '') return { host: '127.0.0.1', port };
  if (host === '::') return { host: '::1', port };
  return { host, port };
}

/** The status `GET url` is answered with, through undici like every other request the gate makes. */
async function probe(url: URL, timeoutMs: number): Promise<number> {
  // The server's own certificate may name another host; a liveness check sends no credentials,
  // so it does not verify the name (nor the chain, which may be self-signed).
  const client = new Client(url.origin, { connect: { rejectUnauthorized: false }, connectTimeout: timeoutMs });
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const { statusCode, body } = await client.request({ method: 'GET', path: url.pathname, signal });
    await body.dump();
    return statusCode;
  } catch (error) {
    if (signal.aborted || errnoCode(error) === 'UND_ERR_CONNECT_TIMEOUT') throw new CliFailure(`no answer within ${timeoutMs} ms`, 1);
    throw error;
  } finally {
    await client.destroy();
  }
}

export function healthcheckCommand(): Command {
  return new Command('healthcheck')
    .description(`exit 0 when the server this config describes answers GET ${PROBE.path} with ${PROBE.healthy.join(' or ')}, else 1`)
    .option('-c, --config <file>', 'YAML configuration file (default: $REGISTRY_GATE_CONFIG, else none)')
    .option('--timeout <ms>', 'how long to wait for the answer', '5000')
    .action(
      guard(COMMAND_FAILURE, async (flags: { config?: string; timeout: string }) => {
        const config = await loadConfig({ file: flags.config });
        const { host, port } = loopbackTarget(config.listen);
        const scheme = config.tls.mode === 'off' ? 'http' : 'https';
        const url = new URL(`${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}${PROBE.path}`);
        try {
          const status = await probe(url, Number(flags.timeout));
          const healthy = (PROBE.healthy as readonly number[]).includes(status);
          process.stdout.write(`${healthy ? 'healthy' : 'unhealthy'}: GET ${url.href} answered ${status}\n`);
          process.exitCode = healthy ? 0 : 1;
        } catch (error) {
          const reason = errnoCode(error) ?? (error as Error).message;
          process.stdout.write(`unhealthy: GET ${url.href} failed: ${reason}\n`);
          process.exitCode = 1;
        }
      }),
    );
}
