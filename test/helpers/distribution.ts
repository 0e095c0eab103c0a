/**
 * A real CNCF Distribution registry (Debian's `docker-registry`, 2.8.x) on 127.0.0.1, the upstream
 * of integration tests and benchmarks.
 *
 *   dir/                    (a temp dir unless given; removed on stop only if we made it)
 *   ├── config.yml
 *   └── data/               storage.filesystem.rootdirectory → data/docker/registry/v2/…
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { Agent } from 'undici';
import { freePort, makeTempDir, removeDir, startProcess, type RunningProcess } from './process.js';

export const DISTRIBUTION_BIN = process.env.DISTRIBUTION_BIN ?? '/usr/bin/docker-registry';

export interface DistributionTokenAuth {
  realm: string;
  service: string;
  issuer: string;
  /** PEM file with the certificate(s) of the token signing key. Required by Distribution 2.8. */
  rootcertbundle?: string;
  /** Distribution 3.x only; 2.8 refuses it, so this helper does too (with a clear message). */
  jwks?: string;
  autoredirect?: boolean;
}

export interface DistributionOptions {
  dir?: string;
  auth?: { token: DistributionTokenAuth } | { htpasswd: { realm: string; path: string } };
  /** Default true: tests delete manifests and blobs. */
  deleteEnabled?: boolean;
  /** Serve HTTPS with this pair; `caPem` is used only to check readiness. */
  tls?: { certFile: string; keyFile: string; caPem: string };
  /** Default 'warn' (Distribution logs every request at info). */
  logLevel?: 'error' | 'warn' | 'info' | 'debug';
  timeoutMs?: number;
}

export interface RunningDistribution {
  /** `http://127.0.0.1:PORT` (or https), no trailing slash. */
  url: string;
  /** `127.0.0.1:PORT`, for image references: `docker://${host}/repo:tag`. */
  host: string;
  port: number;
  dir: string;
  dataDir: string;
  configFile: string;
  output(): string;
  stop(): Promise<void>;
}

function authSection(auth: DistributionOptions['auth']): Record<string, unknown> | undefined {
  if (!auth) return undefined;
  if ('htpasswd' in auth) return { htpasswd: auth.htpasswd };
  const { jwks, ...token } = auth.token;
  if (jwks !== undefined) {
    throw new Error('startDistribution: auth.token.jwks needs Distribution 3.x; 2.8 only takes rootcertbundle');
  }
  if (!token.rootcertbundle) throw new Error('startDistribution: auth.token.rootcertbundle is required');
  return { token };
}

function configFor(port: number, dataDir: string, options: DistributionOptions): Record<string, unknown> {
  const auth = authSection(options.auth);
  return {
    version: 0.1,
    log: { level: options.logLevel ?? 'warn', formatter: 'text', accesslog: { disabled: true } },
    storage: {
      filesystem: { rootdirectory: dataDir },
      delete: { enabled: options.deleteEnabled ?? true },
      maintenance: { uploadpurging: { enabled: false } },
    },
    http: {
      addr: `127.0.0.1:${port}`,
      // Without a secret Distribution warns and makes one up; upload state is signed with it.
      secret: randomBytes(16).toString('hex'),
      headers: { 'X-Content-Type-Options': ['nosniff'] },
      ...(options.tls ? { tls: { certificate: options.tls.certFile, key: options.tls.keyFile } } : {}),
    },
    health: { storagedriver: { enabled: false } },
    ...(auth ? { auth } : {}),
  };
}

/** Distribution reads REGISTRY_* variables as config overrides; never let the test env leak in. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('REGISTRY_') && !key.startsWith('OTEL_')) env[key] = value;
  }
  return env;
}

export async function startDistribution(options: DistributionOptions = {}): Promise<RunningDistribution> {
  const ownsDir = options.dir === undefined;
  const dir = options.dir ?? (await makeTempDir('registry-gate-distribution-'));
  const dataDir = join(dir, 'data');
  const configFile = join(dir, 'config.yml');
  await mkdir(dataDir, { recursive: true });
  const scheme = options.tls ? 'https' : 'http';
  const readyDispatcher = options.tls ? new Agent({ connect: { ca: options.tls.caPem } }) : undefined;

  try {
    // freePort() can race with another process taking the port; try a few.
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      await writeFile(configFile, stringify(configFor(port, dataDir, options)));
      let proc: RunningProcess;
      try {
        proc = await startProcess(DISTRIBUTION_BIN, ['serve', configFile], {
          env: cleanEnv(),
          cwd: dir,
          readyUrl: `${scheme}://127.0.0.1:${port}/v2/`,
          ...(readyDispatcher ? { readyDispatcher } : {}),
          timeoutMs: options.timeoutMs ?? 15_000,
        });
      } catch (err) {
        if (attempt < 3 && /address already in use/.test(String(err))) continue;
        throw err;
      }
      const host = `127.0.0.1:${port}`;
      return {
        url: `${scheme}://${host}`,
        host,
        port,
        dir,
        dataDir,
        configFile,
        output: () => proc.output(),
        async stop() {
          await proc.stop();
          if (ownsDir) await removeDir(dir);
        },
      };
    }
  } catch (err) {
    if (ownsDir) await removeDir(dir);
    throw err;
  } finally {
    await readyDispatcher?.close();
  }
}
