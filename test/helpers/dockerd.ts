/**
 * A private Docker daemon (Debian's `docker.io`) for tests that drive the docker CLI against the
 * gateway: `docker login`, `push`, `pull`, as users run them. Needs root.
 *
 *   /tmp/rgd-XXXXXX/        (short on purpose: containerd's unix sockets live under exec/)
 *   ├── daemon.json         `{}` unless given: nothing from /etc/docker/daemon.json applies
 *   ├── docker.sock         DOCKER_HOST for the CLI
 *   ├── docker.pid
 *   ├── config/             DOCKER_CONFIG: where `docker login` keeps credentials (no helpers)
 *   ├── home/               HOME, so nothing under ~/.docker is read
 *   ├── data/               --data-root (vfs: no kernel overlay needed)
 *   └── exec/               --exec-root
 *
 * No bridge and no iptables: the daemon never runs a container, it only moves images. Registries on
 * 127.0.0.0/8 are "insecure" to dockerd by default: it speaks TLS to them without verifying the
 * certificate, so the gateway's test CA needs no set-up.
 *
 * Passwords go to `docker login` on stdin only, and are redacted from every command, output and
 * error this module returns.
 */
import { mkdtemp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { redactAll, removeDir, runProcess, startProcess, type RunningProcess } from './process.js';
import { skopeo, assertSkopeoOk } from './skopeo.js';
import type { OciImage } from './oci-image.js';

export const DOCKERD_BIN = process.env.DOCKERD_BIN ?? '/usr/sbin/dockerd';
/** Debian's CLI, the one that matches the daemon (a newer one elsewhere on PATH would do as well). */
export const DOCKER_BIN = process.env.DOCKER_BIN ?? '/usr/bin/docker';

export interface DockerResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The command line as run, secrets redacted. */
  command: string;
}

export interface RunningDockerd {
  dir: string;
  /** `docker <args>` against this daemon. Never rejects for a non-zero exit. */
  docker(args: readonly string[], options?: { input?: string; timeoutMs?: number; redact?: string[] }): Promise<DockerResult>;
  /** `docker login --password-stdin`. */
  login(host: string, credentials: { user: string; password: string }): Promise<DockerResult>;
  logout(host: string): Promise<DockerResult>;
  /** Puts an OCI layout image into the daemon as `name` (`repo:tag`), via a docker-archive. */
  loadImage(image: OciImage, name: string): Promise<void>;
  /** The daemon's own log, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

/** Throw (with the redacted command and stderr) unless docker exited 0. */
export function assertDockerOk(result: DockerResult): DockerResult {
  if (result.code !== 0) throw new Error(`${result.command}\nexited ${result.code}\n${result.stderr.trim()}`);
  return result;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits for a process that is not our child to exit; SIGKILL after `timeoutMs`. */
async function waitForExit(pid: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (isRunning(pid)) {
    if (Date.now() > deadline) {
      process.kill(pid, 'SIGKILL');
      return;
    }
    await sleep(50);
  }
}

async function isMountPoint(path: string): Promise<boolean> {
  const mounts = await readFile('/proc/self/mountinfo', 'utf8');
  return mounts.split('\n').some((line) => line.split(' ')[4] === path);
}

/** `daemonJson`: the daemon's config (default `{}`), e.g. `{ "registry-mirrors": [URL] }`. */
export async function startDockerd(options: { timeoutMs?: number; daemonJson?: Record<string, unknown> } = {}): Promise<RunningDockerd> {
  if (process.getuid?.() !== 0) throw new Error('startDockerd: dockerd needs root (run the integration tests as root)');
  const dir = await mkdtemp('/tmp/rgd-');
  const socket = join(dir, 'docker.sock');
  const configFile = join(dir, 'daemon.json');
  for (const sub of ['config', 'home', 'data', 'exec']) await mkdir(join(dir, sub));
  await writeFile(configFile, JSON.stringify(options.daemonJson ?? {}));
  await writeFile(join(dir, 'config', 'config.json'), '{"auths":{}}');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: join(dir, 'home'),
    DOCKER_HOST: `unix://${socket}`,
    DOCKER_CONFIG: join(dir, 'config'),
  };

  let daemon: RunningProcess;
  try {
    daemon = await startProcess(
      DOCKERD_BIN,
      [
        '--config-file',
        configFile,
        '--storage-driver',
        'vfs',
        '--iptables=false',
        '--ip6tables=false',
        '--bridge=none',
        '-H',
        `unix://${socket}`,
        '--data-root',
        join(dir, 'data'),
        '--exec-root',
        join(dir, 'exec'),
        '--pidfile',
        join(dir, 'docker.pid'),
      ],
      {
        env: { ...env, TMPDIR: dir },
        readyWhen: (line) => line.includes('API listen on'),
        timeoutMs: options.timeoutMs ?? 60_000,
        killAfterMs: 15_000,
      },
    );
  } catch (error) {
    await removeDir(dir);
    throw error;
  }

  const docker: RunningDockerd['docker'] = async (args, runOptions = {}) => {
    const secrets = runOptions.redact ?? [];
    const result = await runProcess(DOCKER_BIN, args, {
      env,
      timeoutMs: runOptions.timeoutMs ?? 120_000,
      ...(runOptions.input !== undefined ? { input: runOptions.input } : {}),
    });
    const killed = result.signal === 'SIGKILL' ? `\n(killed after ${runOptions.timeoutMs ?? 120_000} ms)` : '';
    return {
      code: result.code,
      stdout: redactAll(result.stdout, secrets),
      stderr: redactAll(result.stderr + killed, secrets),
      command: redactAll(['docker', ...args].join(' '), secrets),
    };
  };

  return {
    dir,
    docker,
    login: (host, credentials) =>
      docker(['login', '--username', credentials.user, '--password-stdin', host], {
        input: `${credentials.password}\n`,
        redact: [credentials.password],
      }),
    logout: (host) => docker(['logout', host]),
    async loadImage(image, name) {
      const archive = join(dir, `load-${name.replace(/[^a-z0-9]+/gi, '-')}.tar`);
      assertSkopeoOk(await skopeo(['copy', '--quiet', image.ref, `docker-archive:${archive}:${name}`]));
      assertDockerOk(await docker(['load', '--quiet', '--input', archive]));
    },
    output: () => daemon.output(),
    async stop() {
      const containerd = await readFile(join(dir, 'exec', 'containerd', 'containerd.pid'), 'utf8').then(Number, () => undefined);
      await daemon.stop();
      // dockerd stops its containerd, which can outlive it by a moment and still write under exec/.
      if (containerd !== undefined && Number.isSafeInteger(containerd) && containerd > 1) await waitForExit(containerd, 10_000);
      // dockerd bind-mounts its data root onto itself; a daemon that did not get to unmount it leaves it mounted.
      if (await isMountPoint(join(dir, 'data'))) await runProcess('umount', ['--lazy', join(dir, 'data')], { timeoutMs: 10_000 });
      await removeDir(dir);
    },
  };
}
