/**
 * A private containerd (Debian's `containerd`) for tests that drive `ctr` against the gateway:
 * `ctr images push` and `pull` as users run them. Needs root.
 *
 *   /tmp/rgc-XXXXXX/        (short on purpose: unix socket paths are limited to 108 bytes)
 *   ├── config.toml          version 2, every path below, the CRI plugin off, namespaces isolated
 *   ├── containerd.sock      `ctr --address`
 *   ├── root/  state/        --root and --state of this daemon alone
 *   └── hosts/HOST:PORT/hosts.toml   `ctr --hosts-dir`: the registry over https, trusting the test CA
 *
 * ctr speaks plain HTTP to a registry on 127.0.0.1 unless a hosts.toml says https (`trustRegistry`);
 * the certificate is verified against the test CA. Pulls unpack with the `native` snapshotter, which
 * needs no kernel overlay support. Namespaces share no content (`content_sharing_policy =
 * "isolated"`), so a pull into a namespace of its own reads every blob from the registry.
 *
 * ctr takes the password on the command line (`--user NAME:PASSWORD`); it is redacted from every
 * command, output and error this module returns.
 */
import { mkdtemp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { redactAll, removeDir, runProcess, startProcess, type RunningProcess } from './process.js';
import { assertSkopeoOk, skopeo, type Credentials } from './skopeo.js';
import type { OciImage } from './oci-image.js';

export const CONTAINERD_BIN = process.env.CONTAINERD_BIN ?? '/usr/bin/containerd';
export const CTR_BIN = process.env.CTR_BIN ?? '/usr/bin/ctr';

export interface CtrResult {
  code: number | null;
  /** SIGKILL when ctr did not end within its time limit. */
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The command line as run, secrets redacted. */
  command: string;
  /** How long ctr ran, in ms. */
  ms: number;
}

export interface CtrOptions {
  /** Kill ctr (SIGKILL) after this long. Default 60 s. */
  timeoutMs?: number;
  /** Strings to redact besides the password of `--user`. */
  redact?: string[];
  /** The containerd namespace (default `default`). */
  namespace?: string;
}

export interface RunningContainerd {
  dir: string;
  /** `ctr --address SOCKET <args>`. Never rejects for a non-zero exit. */
  ctr(args: readonly string[], options?: CtrOptions): Promise<CtrResult>;
  /** Makes ctr speak https to `host` (`127.0.0.1:PORT`), trusting `caFile`. */
  trustRegistry(host: string, caFile: string): Promise<void>;
  /** Puts an OCI layout image into the content store as `name` (`host/repo:tag`), not unpacked. */
  importImage(image: OciImage, name: string): Promise<void>;
  /** `ctr images push --user … REF` through the hosts directory. */
  push(ref: string, credentials: Credentials, options?: CtrOptions): Promise<CtrResult>;
  /** `ctr images pull --user … REF`, unpacked with the native snapshotter. */
  pull(ref: string, credentials: Credentials, options?: CtrOptions): Promise<CtrResult>;
  /** The manifest digest `ctr images ls` shows for `ref`, if the image is there. */
  imageDigest(ref: string, options?: CtrOptions): Promise<string | undefined>;
  /** The daemon's own log, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

/** Throw (with the redacted command and stderr) unless ctr exited 0. */
export function assertCtrOk(result: CtrResult): CtrResult {
  if (result.code !== 0) throw new Error(`${result.command}\nexited ${result.code ?? result.signal}\n${result.stderr.trim()}`);
  return result;
}

function daemonConfig(dir: string): string {
  return [
    'version = 2',
    `root = "${join(dir, 'root')}"`,
    `state = "${join(dir, 'state')}"`,
    'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
    '[grpc]',
    `  address = "${join(dir, 'containerd.sock')}"`,
    '[ttrpc]',
    `  address = "${join(dir, 'containerd.sock.ttrpc')}"`,
    // Each namespace sees only the content written in it: a pull into a fresh one fetches every blob.
    '[plugins."io.containerd.metadata.v1.bolt"]',
    '  content_sharing_policy = "isolated"',
    '',
  ].join('\n');
}

/** Mount points under `dir` (a snapshot a killed daemon did not unmount), deepest first. */
async function mountsUnder(dir: string): Promise<string[]> {
  const mounts = await readFile('/proc/self/mountinfo', 'utf8');
  const points = mounts.split('\n').map((line) => line.split(' ')[4] ?? '');
  return points.filter((point) => point.startsWith(`${dir}/`)).sort((a, b) => b.length - a.length);
}

export async function startContainerd(options: { timeoutMs?: number } = {}): Promise<RunningContainerd> {
  if (process.getuid?.() !== 0) throw new Error('startContainerd: containerd needs root (run the integration tests as root)');
  const dir = await mkdtemp('/tmp/rgc-');
  const socket = join(dir, 'containerd.sock');
  const hostsDir = join(dir, 'hosts');
  const configFile = join(dir, 'config.toml');
  await mkdir(hostsDir);
  await writeFile(configFile, daemonConfig(dir));

  let daemon: RunningProcess;
  try {
    daemon = await startProcess(CONTAINERD_BIN, ['--config', configFile], {
      env: { PATH: process.env.PATH, TMPDIR: dir },
      readyWhen: (line) => line.includes('containerd successfully booted'),
      timeoutMs: options.timeoutMs ?? 30_000,
      killAfterMs: 10_000,
    });
  } catch (error) {
    await removeDir(dir);
    throw error;
  }

  const ctr: RunningContainerd['ctr'] = async (args, runOptions = {}) => {
    const secrets = runOptions.redact ?? [];
    const timeoutMs = runOptions.timeoutMs ?? 60_000;
    const full = ['--address', socket, '--namespace', runOptions.namespace ?? 'default', ...args];
    const started = Date.now();
    const result = await runProcess(CTR_BIN, full, { env: { PATH: process.env.PATH, HOME: dir }, timeoutMs });
    const killed = result.signal === 'SIGKILL' ? `\n(killed after ${timeoutMs} ms)` : '';
    return {
      code: result.code,
      signal: result.signal,
      stdout: redactAll(result.stdout, secrets),
      stderr: redactAll(result.stderr + killed, secrets),
      command: redactAll(['ctr', ...full].join(' '), secrets),
      ms: Date.now() - started,
    };
  };
  const withUser = (credentials: Credentials, runOptions: CtrOptions = {}): CtrOptions => ({
    ...runOptions,
    redact: [...(runOptions.redact ?? []), credentials.password],
  });

  return {
    dir,
    ctr,
    async trustRegistry(host, caFile) {
      await mkdir(join(hostsDir, host), { recursive: true });
      const hosts = [
        `server = "https://${host}"`,
        `[host."https://${host}"]`,
        '  capabilities = ["pull", "resolve", "push"]',
        `  ca = "${caFile}"`,
        '',
      ];
      await writeFile(join(hostsDir, host, 'hosts.toml'), hosts.join('\n'));
    },
    async importImage(image, name) {
      const archive = join(dir, `import-${name.replace(/[^a-z0-9]+/gi, '-')}.tar`);
      assertSkopeoOk(await skopeo(['copy', '--quiet', image.ref, `docker-archive:${archive}:${name}`]));
      assertCtrOk(await ctr(['images', 'import', '--no-unpack', archive]));
    },
    push: (ref, credentials, runOptions) =>
      ctr(
        ['images', 'push', '--hosts-dir', hostsDir, '--user', `${credentials.user}:${credentials.password}`, ref],
        withUser(credentials, runOptions),
      ),
    pull: (ref, credentials, runOptions) =>
      ctr(
        [
          'images',
          'pull',
          '--hosts-dir',
          hostsDir,
          '--snapshotter',
          'native',
          '--user',
          `${credentials.user}:${credentials.password}`,
          ref,
        ],
        withUser(credentials, runOptions),
      ),
    async imageDigest(ref, runOptions) {
      const listed = assertCtrOk(await ctr(['images', 'ls'], runOptions));
      const row = listed.stdout.split('\n').find((line) => line.split(/\s+/)[0] === ref);
      return row?.split(/\s+/).find((field) => /^sha256:[0-9a-f]{64}$/.test(field));
    },
    output: () => daemon.output(),
    async stop() {
      await daemon.stop();
      for (const point of await mountsUnder(dir)) await runProcess('umount', ['--lazy', point], { timeoutMs: 10_000 });
      await removeDir(dir);
    },
  };
}
