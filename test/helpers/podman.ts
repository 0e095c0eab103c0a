/**
 * Podman for tests, in a sandbox that leaves nothing behind: its own image and container storage
 * (`--root`, `--runroot`, `--tmpdir` under one temp dir, `vfs` driver), its own containers.conf (no
 * default ulimits, cgroupfs: what works on these machines), `runc`, and no registry access at all —
 * base images are built here from this machine's own binaries:
 *
 *   - a Node.js stand-in for `node:20-bookworm-slim`: this machine's `node` with the libraries
 *     `ldd` lists, `dash` as /bin/sh (npm runs scripts with it) and npm, in a `FROM scratch` image;
 *   - a `registry:2` stand-in: Debian's Distribution binary (/usr/bin/docker-registry) with
 *     registry:2's own paths and default config (/bin/registry, /etc/docker/registry/config.yml,
 *     /var/lib/registry, port 5000).
 *
 *   dir/
 *   ├── containers.conf
 *   ├── root/ runroot/ tmp/      podman's storage and state
 *   └── context-node/, context-registry/   build contexts of the stand-ins
 */
import { chmod, copyFile, cp, mkdir, realpath, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { runProcess, type RunResult } from './process.js';

export interface RunOptions {
  timeoutMs?: number;
}

export interface Podman {
  readonly dir: string;
  /** `podman <args>` in the sandbox; never rejects for a non-zero exit. */
  run(args: readonly string[], options?: RunOptions): Promise<RunResult>;
  /** Like `run`, but throws with the output unless podman exited 0; returns stdout. */
  ok(args: readonly string[], options?: RunOptions): Promise<string>;
  /** Removes every container and volume; the caller then removes `dir` (vfs storage is plain folders). */
  cleanup(): Promise<void>;
}

export async function podmanAvailable(): Promise<boolean> {
  return (await runProcess('podman', ['--version']).catch(() => undefined))?.code === 0;
}

export async function createPodman(dir: string): Promise<Podman> {
  await mkdir(join(dir, 'tmp'), { recursive: true });
  const conf = join(dir, 'containers.conf');
  await writeFile(conf, '[containers]\ndefault_ulimits = []\n\n[engine]\ncgroup_manager = "cgroupfs"\nruntime = "runc"\n');
  const global = ['--root', join(dir, 'root'), '--runroot', join(dir, 'runroot'), '--tmpdir', join(dir, 'tmp'), '--storage-driver', 'vfs'];
  const env = { ...process.env, CONTAINERS_CONF: conf };
  const run = (args: readonly string[], options: RunOptions = {}) =>
    runProcess('podman', [...global, ...args], { env, timeoutMs: options.timeoutMs ?? 120_000 });
  const ok = async (args: readonly string[], options: RunOptions = {}) => {
    const result = await run(args, options);
    if (result.code !== 0)
      throw new Error(`podman ${args.join(' ')} exited ${result.code ?? result.signal}\n${result.stdout}\n${result.stderr}`);
    return result.stdout;
  };
  return {
    dir,
    run,
    ok,
    async cleanup() {
      await run(['rm', '--all', '--force', '--time', '2'], { timeoutMs: 60_000 });
      await run(['volume', 'rm', '--all', '--force'], { timeoutMs: 60_000 });
    },
  };
}

/** The shared libraries `ldd` says `binary` loads, as absolute paths. */
async function sharedLibraries(binary: string): Promise<string[]> {
  const result = await runProcess('ldd', [binary]);
  if (result.code !== 0) throw new Error(`ldd ${binary}: ${result.stderr}`);
  return [...result.stdout.matchAll(/(\/\S+) \(0x/g)].map((match) => match[1]!);
}

/** Copies `source` into `rootfs` at `target` (default: the same path), with its parent folders. */
async function place(rootfs: string, source: string, target = source): Promise<void> {
  await mkdir(join(rootfs, dirname(target)), { recursive: true });
  await copyFile(await realpath(source), join(rootfs, target));
  await chmod(join(rootfs, target), 0o755);
}

async function placeWithLibraries(rootfs: string, binary: string, target?: string): Promise<void> {
  await place(rootfs, binary, target);
  for (const library of await sharedLibraries(binary)) await place(rootfs, library);
}

/** The folders every image needs: /tmp (1777) and /root for HOME. */
async function baseFolders(rootfs: string): Promise<void> {
  await mkdir(join(rootfs, 'tmp'), { recursive: true });
  await chmod(join(rootfs, 'tmp'), 0o1777);
  await mkdir(join(rootfs, 'root'), { recursive: true });
}

/** A `FROM scratch` Node.js image from this machine's node, dash and npm, tagged `tag`. */
export async function buildNodeStandIn(podman: Podman, tag: string): Promise<void> {
  const context = join(podman.dir, 'context-node');
  const rootfs = join(context, 'rootfs');
  await baseFolders(rootfs);
  await placeWithLibraries(rootfs, process.execPath, '/usr/local/bin/node');
  await placeWithLibraries(rootfs, '/bin/sh', '/bin/sh');
  const npmRoot = (await runProcess('npm', ['root', '--global'])).stdout.trim();
  await cp(join(npmRoot, 'npm'), join(rootfs, 'usr/local/lib/node_modules/npm'), { recursive: true });
  await writeFile(join(rootfs, 'usr/local/bin/npm'), '#!/bin/sh\nexec node /usr/local/lib/node_modules/npm/bin/npm-cli.js "$@"\n', {
    mode: 0o755,
  });
  await writeFile(
    join(context, 'Containerfile'),
    'FROM scratch\nCOPY rootfs/ /\nENV PATH=/usr/local/bin:/usr/bin:/bin HOME=/root\nCMD ["node"]\n',
  );
  await podman.ok(['build', '--quiet', '--layers=false', '--tag', tag, context], { timeoutMs: 180_000 });
}

/** registry:2's own default configuration (its /etc/docker/registry/config.yml). */
const REGISTRY_2_CONFIG = `version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
`;

/** A `FROM scratch` stand-in for `registry:2` from Debian's Distribution binary, tagged `tag`. */
export async function buildRegistryStandIn(podman: Podman, tag: string, binary = '/usr/bin/docker-registry'): Promise<void> {
  const context = join(podman.dir, 'context-registry');
  const rootfs = join(context, 'rootfs');
  await baseFolders(rootfs);
  await placeWithLibraries(rootfs, binary, '/bin/registry');
  await mkdir(join(rootfs, 'etc/docker/registry'), { recursive: true });
  await writeFile(join(rootfs, 'etc/docker/registry/config.yml'), REGISTRY_2_CONFIG);
  await mkdir(join(rootfs, 'var/lib/registry'), { recursive: true });
  await writeFile(
    join(context, 'Containerfile'),
    'FROM scratch\nCOPY rootfs/ /\nVOLUME /var/lib/registry\nEXPOSE 5000\nENTRYPOINT ["/bin/registry"]\nCMD ["serve", "/etc/docker/registry/config.yml"]\n',
  );
  await podman.ok(['build', '--quiet', '--layers=false', '--tag', tag, context], { timeoutMs: 120_000 });
}

/** Polls `podman logs` until a line matches, within `timeoutMs`. Returns stdout and stderr. */
export async function waitForLog(
  podman: Podman,
  container: string,
  pattern: RegExp,
  timeoutMs = 60_000,
): Promise<{ stdout: string; stderr: string }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const logs = await podman.run(['logs', container]);
    if (pattern.test(logs.stdout) || pattern.test(logs.stderr)) return { stdout: logs.stdout, stderr: logs.stderr };
    const state = (await podman.run(['inspect', '--format', '{{.State.Status}}', container])).stdout.trim();
    if (state === 'exited' || Date.now() > deadline) {
      throw new Error(
        `${container} (${state}): no log line matching ${pattern} within ${timeoutMs} ms\n--- stdout ---\n${logs.stdout}\n--- stderr ---\n${logs.stderr}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
