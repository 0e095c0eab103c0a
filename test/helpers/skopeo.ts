/**
 * skopeo as a real registry client in tests, isolated from the host's container configuration:
 * every run gets `--policy` (accept anything), an empty `--registries-conf`, an empty
 * `--registries.d`, its own `--authfile`, and HOME/XDG/DOCKER_CONFIG pointing into a private
 * temp dir, so nothing under /etc/containers or ~ changes what a test sees.
 *
 * TLS is verified for real: pass `certDir` (a directory holding only the test CA as `ca.crt`,
 * e.g. `TlsPair.caDir`). `tlsVerify: false` exists only for plain-HTTP Distribution in helper tests.
 *
 * Credentials go on the command line (`--creds user:pass`) and are redacted from everything this
 * module returns or throws: `command`, `stdout`, `stderr` and error messages.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { redactAll, runProcess } from './process.js';

export const SKOPEO_BIN = process.env.SKOPEO_BIN ?? 'skopeo';

export interface Credentials {
  user: string;
  password: string;
}

/** How to reach one registry (source or destination). */
export interface RegistryAccess {
  creds?: Credentials;
  /** Access anonymously even if the authfile had something (it never does here). */
  noCreds?: boolean;
  /** Directory with the CA as `ca.crt` (and nothing else ending in .key). */
  certDir?: string;
  /** Default true. false lets skopeo fall back to plain HTTP. */
  tlsVerify?: boolean;
}

export interface SkopeoResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The command line as run, secrets redacted. */
  command: string;
}

export interface SkopeoOptions {
  /** Kill skopeo after this long. Default 120 s. */
  timeoutMs?: number;
  /** Extra strings to redact (credentials found in args are redacted anyway). */
  redact?: string[];
  /** Run inside this named network namespace (`ip netns exec`), e.g. to reach containers there. */
  netns?: string;
}

interface Sandbox {
  dir: string;
  policyFile: string;
  registriesConf: string;
  registriesD: string;
  authFile: string;
  env: NodeJS.ProcessEnv;
}

let sandbox: Sandbox | undefined;

/** One private config tree per test process, removed when the process exits. */
function skopeoSandbox(): Sandbox {
  if (sandbox) return sandbox;
  const dir = mkdtempSync(join(tmpdir(), 'registry-gate-skopeo-'));
  const policyFile = join(dir, 'policy.json');
  const registriesConf = join(dir, 'registries.conf');
  const registriesD = join(dir, 'registries.d');
  const authFile = join(dir, 'auth.json');
  writeFileSync(policyFile, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
  writeFileSync(registriesConf, '');
  writeFileSync(authFile, '{"auths":{}}');
  mkdirSync(registriesD);
  for (const sub of ['home', 'run', 'config', 'docker']) mkdirSync(join(dir, sub));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: join(dir, 'home'),
    XDG_RUNTIME_DIR: join(dir, 'run'),
    XDG_CONFIG_HOME: join(dir, 'config'),
    DOCKER_CONFIG: join(dir, 'docker'),
    REGISTRY_AUTH_FILE: authFile,
    REGISTRIES_CONFIG_PATH: registriesConf,
    CONTAINERS_REGISTRIES_CONF: registriesConf,
    TMPDIR: process.env.TMPDIR ?? tmpdir(),
  };
  sandbox = { dir, policyFile, registriesConf, registriesD, authFile, env };
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return sandbox;
}

const CREDENTIAL_FLAGS = new Set([
  '--creds',
  '--src-creds',
  '--dest-creds',
  '--registry-token',
  '--src-registry-token',
  '--dest-registry-token',
  '--password',
]);

/** Every secret-looking value in an argument list: `user:pass` and `pass` alone. */
export function secretsInArgs(args: readonly string[]): string[] {
  const secrets: string[] = [];
  const add = (value: string | undefined, flag: string): void => {
    if (!value) return;
    secrets.push(value);
    const colon = value.indexOf(':');
    if (flag.endsWith('creds') && colon >= 0 && colon < value.length - 1) secrets.push(value.slice(colon + 1));
  };
  args.forEach((arg, i) => {
    const eq = arg.indexOf('=');
    const flag = eq >= 0 ? arg.slice(0, eq) : arg;
    if (!CREDENTIAL_FLAGS.has(flag)) return;
    add(eq >= 0 ? arg.slice(eq + 1) : args[i + 1], flag);
  });
  return secrets;
}

const AUTHFILE_SUBCOMMANDS = new Set(['copy', 'inspect', 'delete', 'list-tags', 'sync', 'login', 'logout']);

/**
 * Run `skopeo <args>` in the sandbox. `args` starts with the subcommand. Never rejects for a
 * non-zero exit: look at `code` (or call `assertSkopeoOk`).
 */
export async function skopeo(args: readonly string[], options: SkopeoOptions = {}): Promise<SkopeoResult> {
  const box = skopeoSandbox();
  const [subcommand, ...rest] = args;
  if (subcommand === undefined) throw new Error('skopeo: missing subcommand');
  const full = [
    '--policy',
    box.policyFile,
    '--registries-conf',
    box.registriesConf,
    '--registries.d',
    box.registriesD,
    subcommand,
    ...(AUTHFILE_SUBCOMMANDS.has(subcommand) ? ['--authfile', box.authFile] : []),
    ...rest,
  ];
  const secrets = [...secretsInArgs(args), ...(options.redact ?? [])];
  const [command, commandArgs] =
    options.netns === undefined ? [SKOPEO_BIN, full] : ['ip', ['netns', 'exec', options.netns, SKOPEO_BIN, ...full]];
  const result = await runProcess(command, commandArgs, { env: box.env, timeoutMs: options.timeoutMs ?? 120_000 });
  const timedOut = result.signal === 'SIGKILL' ? `\n(killed after ${options.timeoutMs ?? 120_000} ms)` : '';
  return {
    code: result.code,
    stdout: redactAll(result.stdout, secrets),
    stderr: redactAll(result.stderr + timedOut, secrets),
    command: redactAll(['skopeo', ...full].join(' '), secrets),
  };
}

/** Throw (with the redacted command and stderr) unless skopeo exited 0. Returns the result. */
export function assertSkopeoOk(result: SkopeoResult): SkopeoResult {
  if (result.code !== 0) {
    throw new Error(`${result.command}\nexited ${result.code}\n${result.stderr.trim()}`);
  }
  return result;
}

/** `docker://HOST/REPO:TAG`, or `docker://HOST/REPO@sha256:…` when `reference` is a digest. */
export function dockerRef(host: string, repository: string, reference = 'latest'): string {
  return `docker://${host}/${repository}${reference.includes(':') ? '@' : ':'}${reference}`;
}

/** Flags for one side of a transfer; `prefix` is '' (inspect, delete, list-tags), 'src-' or 'dest-'. */
export function accessArgs(prefix: '' | 'src-' | 'dest-', access: RegistryAccess = {}): string[] {
  const args = [`--${prefix}tls-verify=${access.tlsVerify ?? true}`];
  if (access.certDir !== undefined) args.push(`--${prefix}cert-dir`, access.certDir);
  if (access.creds) args.push(`--${prefix}creds`, `${access.creds.user}:${access.creds.password}`);
  if (access.noCreds) args.push(`--${prefix}no-creds`);
  return args;
}

export interface CopyOptions extends SkopeoOptions {
  from: string;
  to: string;
  /** Only applies when `from` is `docker://…`. */
  src?: RegistryAccess;
  /** Only applies when `to` is `docker://…`. */
  dest?: RegistryAccess;
  /** Manifest type at the destination: 'v2s2' converts to Docker schema 2. */
  format?: 'oci' | 'v2s2';
  /** Keep layers byte-identical (no gzip of uncompressed layers); fails if conversion is needed. */
  preserveDigests?: boolean;
  /** For `oci:` destinations: keep uncompressed layers uncompressed (default: skopeo gzips them). */
  ociAcceptUncompressed?: boolean;
  /** Copy every image of a manifest list / index. */
  all?: boolean;
  extraArgs?: string[];
}

export function copyArgs(options: CopyOptions): string[] {
  const args = ['copy', '--quiet'];
  if (options.from.startsWith('docker://')) args.push(...accessArgs('src-', options.src));
  if (options.to.startsWith('docker://')) args.push(...accessArgs('dest-', options.dest));
  if (options.format) args.push('--format', options.format);
  if (options.preserveDigests) args.push('--preserve-digests');
  if (options.ociAcceptUncompressed) args.push('--dest-oci-accept-uncompressed-layers');
  if (options.all) args.push('--all');
  args.push(...(options.extraArgs ?? []), options.from, options.to);
  return args;
}

export type InspectOptions = RegistryAccess & SkopeoOptions & { raw?: boolean; config?: boolean };

export function inspectArgs(ref: string, options: InspectOptions = {}): string[] {
  return ['inspect', ...accessArgs('', options), ...(options.raw ? ['--raw'] : []), ...(options.config ? ['--config'] : []), ref];
}

export function deleteArgs(ref: string, access: RegistryAccess = {}): string[] {
  return ['delete', ...accessArgs('', access), ref];
}

/** `ref` is `docker://HOST/REPO` (no tag). */
export function listTagsArgs(ref: string, access: RegistryAccess = {}): string[] {
  return ['list-tags', ...accessArgs('', access), ref];
}

export function skopeoCopy(options: CopyOptions): Promise<SkopeoResult> {
  return skopeo(copyArgs(options), options);
}

export function skopeoInspect(ref: string, options: InspectOptions = {}): Promise<SkopeoResult> {
  return skopeo(inspectArgs(ref, options), options);
}

export function skopeoDelete(ref: string, options: RegistryAccess & SkopeoOptions = {}): Promise<SkopeoResult> {
  return skopeo(deleteArgs(ref, options), options);
}

/** `tags` is set when skopeo succeeded. */
export async function skopeoListTags(
  ref: string,
  options: RegistryAccess & SkopeoOptions = {},
): Promise<SkopeoResult & { tags?: string[] }> {
  const result = await skopeo(listTagsArgs(ref, options), options);
  if (result.code !== 0) return result;
  const parsed = JSON.parse(result.stdout) as { Tags?: string[] | null };
  return { ...result, tags: parsed.Tags ?? [] };
}
