/**
 * Debian's HAProxy as the load balancer in front of registry-gate replicas: terminates TLS (the
 * test CA's pair), replaces whatever forwarding headers the client sent with its own
 * (`X-Forwarded-For` = the client, `X-Forwarded-Proto: https`), spreads requests round-robin over
 * the replicas, health-checks them with `GET /readyz`, and retries a request whose replica refused
 * the connection on another one. Every response says which replica answered (`X-Served-By`), so
 * tests can tell where a request went.
 *
 *   dir/
 *   ├── haproxy.cfg
 *   └── haproxy.pem    certificate, then key (HAProxy's `crt` format)
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, runProcess, startProcess, type RunningProcess } from './process.js';
import { trustingAgent, type TlsPair } from './tls.js';

export const HAPROXY_BIN = process.env.HAPROXY_BIN ?? 'haproxy';

export interface HaproxyServer {
  readonly name: string;
  /** `127.0.0.1:PORT`. */
  readonly address: string;
}

export interface RunningHaproxy {
  /** `https://127.0.0.1:PORT`. */
  url: string;
  /** `127.0.0.1:PORT`. */
  host: string;
  output(): string;
  stop(): Promise<void>;
}

export function haproxyConfig(port: number, pemFile: string, servers: readonly HaproxyServer[]): string {
  return [
    'global',
    '  maxconn 512',
    '  nbthread 1',
    'defaults',
    '  mode http',
    '  timeout connect 2s',
    '  timeout client 60s',
    '  timeout server 60s',
    '  retries 3',
    // A connection a dead replica refuses is retried on another one at once.
    '  option redispatch 1',
    'frontend registry',
    `  bind 127.0.0.1:${port} ssl crt ${pemFile}`,
    // The load balancer is the one that knows the client: drop what the client claims.
    '  http-request del-header X-Forwarded-For',
    '  http-request del-header X-Real-IP',
    '  http-request set-header X-Forwarded-Proto https',
    '  option forwardfor',
    '  default_backend gates',
    'backend gates',
    '  balance roundrobin',
    '  option httpchk GET /readyz',
    '  http-check expect status 200',
    '  http-response set-header X-Served-By %[srv_name]',
    ...servers.map((server) => `  server ${server.name} ${server.address} check inter 500ms fall 2 rise 1`),
    '',
  ].join('\n');
}

export async function startHaproxy(options: { dir: string; tls: TlsPair; servers: readonly HaproxyServer[] }): Promise<RunningHaproxy> {
  const pemFile = join(options.dir, 'haproxy.pem');
  await writeFile(pemFile, `${options.tls.certPem.trim()}\n${options.tls.keyPem.trim()}\n`, { mode: 0o600 });
  const configFile = join(options.dir, 'haproxy.cfg');
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    await writeFile(configFile, haproxyConfig(port, pemFile, options.servers));
    const check = await runProcess(HAPROXY_BIN, ['-c', '-q', '-f', configFile], { timeoutMs: 10_000 });
    if (check.code !== 0) throw new Error(`haproxy refused its config: ${check.stderr || check.stdout}`);
    let proc: RunningProcess;
    const readyDispatcher = trustingAgent(options.tls.caPem);
    try {
      // -db: stay in the foreground, no daemon; its own config only.
      proc = await startProcess(HAPROXY_BIN, ['-db', '-f', configFile], {
        cwd: options.dir,
        readyUrl: `https://127.0.0.1:${port}/readyz`,
        readyDispatcher,
        timeoutMs: 15_000,
      });
    } catch (error) {
      if (attempt < 3 && /Address already in use|cannot bind/i.test(String(error))) continue;
      throw error;
    } finally {
      await readyDispatcher.close();
    }
    return { url: `https://127.0.0.1:${port}`, host: `127.0.0.1:${port}`, output: () => proc.output(), stop: () => proc.stop() };
  }
}
