/**
 * Starts registry-gate in-process for integration tests: an htpasswd file made by Debian's
 * `htpasswd` (bcrypt, low cost to keep tests fast), a TLS pair from a test CA, and any config keys.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent } from 'undici';
import { buildConfig } from '../../src/config/load.js';
import { silentLoggers } from '../../src/log.js';
import { startRegistryGate, type RunningGate } from '../../src/assembly/app.js';
import { runProcess } from './process.js';
import type { TlsPair } from './tls.js';

export interface GateOptions {
  dir: string;
  tls?: TlsPair;
  users?: Record<string, string>;
  /** Extra config keys (upstream, groups, access, trustedProxies, …). */
  config?: Record<string, unknown>;
  bcryptCost?: number;
}

export interface TestGate {
  gate: RunningGate;
  url: string;
  /** `127.0.0.1:PORT` for skopeo references. */
  host: string;
  /** Trusts the test CA. */
  dispatcher: Agent;
  htpasswdFile: string;
  stop(): Promise<void>;
}

export async function writeHtpasswd(file: string, users: Record<string, string>, cost = 5): Promise<void> {
  await writeFile(file, '', { mode: 0o600 });
  for (const [user, password] of Object.entries(users)) {
    const result = await runProcess('htpasswd', ['-b', '-B', '-C', String(cost), file, user, password], { timeoutMs: 30_000 });
    if (result.code !== 0) throw new Error(`htpasswd failed for ${user}: ${result.stderr}`);
  }
}

export async function startGate(options: GateOptions): Promise<TestGate> {
  await mkdir(options.dir, { recursive: true });
  const htpasswdFile = join(options.dir, 'htpasswd');
  await writeHtpasswd(htpasswdFile, options.users ?? {}, options.bcryptCost);
  const raw: Record<string, unknown> = {
    listen: '127.0.0.1:0',
    dataDir: join(options.dir, 'data'),
    tls: options.tls ? { cert: options.tls.certFile, key: options.tls.keyFile } : 'off',
    auth: { htpasswd: htpasswdFile },
    log: { level: 'silent' },
    audit: { enabled: false },
    ...options.config,
  };
  if (options.config?.auth) raw.auth = { htpasswd: htpasswdFile, ...options.config.auth };
  const config = buildConfig(raw, options.dir, undefined);
  const gate = await startRegistryGate(config, silentLoggers());
  const dispatcher = new Agent({ connect: options.tls ? { ca: options.tls.caPem } : {} });
  return {
    gate,
    url: gate.url,
    host: gate.url.replace(/^https?:\/\//, ''),
    dispatcher,
    htpasswdFile,
    async stop() {
      await dispatcher.close();
      await gate.close(0);
    },
  };
}

export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}
