/**
 * Loading the configuration: YAML file (`--config`, else REGISTRY_GATE_CONFIG), then the other
 * REGISTRY_GATE_* environment variables (src/config/env.ts), then CLI flags, validated once against
 * the schema, paths resolved against the config file's folder, then frozen. Every command loads it
 * this way, so `serve` and the commands that edit its files (`token`, `gc`, …) find the same files.
 */
import { readFile } from 'node:fs/promises';
import { errnoCode } from '../lib/errno.js';
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { configSchema, type ParsedConfig } from './schema.js';
import { resolveTokenConfig, type TokenConfig } from './token.js';
import { CONFIG_FILE_VARIABLE, ENV_VARIABLES, type ConfigOverrides } from './env.js';
import { InternalError } from '../lib/internal-errors.js';

export type { ConfigOverrides } from './env.js';

/** A config that cannot be used: RG_ERR_CONFIG_INVALID, or RG_ERR_CONFIG_UNREADABLE for a file that cannot be read. */
export class ConfigError extends InternalError {
  constructor(message: string, code: 'RG_ERR_CONFIG_INVALID' | 'RG_ERR_CONFIG_UNREADABLE' = 'RG_ERR_CONFIG_INVALID') {
    super(code, message);
    this.name = 'ConfigError';
  }
}

export type TlsSetting =
  | { mode: 'off' }
  | { mode: 'files'; cert: string; key: string }
  /** `trustDir` gets the certificate as `ca.crt`, for clients' certificate folders. */
  | { mode: 'auto'; dir: string; names: readonly string[]; trustDir: string };

export interface Config extends Omit<ParsedConfig, 'tls' | 'storage' | 'cache' | 'auth' | 'workers'> {
  readonly workers: number;
  /** The file this came from, if any. */
  readonly source: string | undefined;
  readonly tls: TlsSetting;
  readonly storage: ParsedConfig['storage'] & { root: string };
  readonly cache: ParsedConfig['cache'] & { dir: string };
  readonly auth: Omit<ParsedConfig['auth'], 'token' | 'tokens'> & {
    providers: ReadonlyArray<'htpasswd' | 'ldap'>;
    /** Settings of the token service; `tokenEndpoint` says whether it is served. */
    token: TokenConfig;
    tokenEndpoint: boolean;
    htpasswd: string;
    /** The first-run file under dataDir: created with an admin user when missing. */
    htpasswdIsDefault: boolean;
    /** The personal token store, absolute. */
    tokens: ParsedConfig['auth']['tokens'] & { store: string };
  };
}

/**
 * Where a key's value came from when not from the file: config path → what set it (an environment
 * variable or a `serve` flag), so that an error names what the user must fix.
 */
export type ValueOrigins = ReadonlyMap<string, string>;

/** The config path each override sets. */
const OVERRIDE_PATHS: Record<keyof ConfigOverrides, string> = {
  listen: 'listen',
  upstream: 'upstream.url',
  htpasswd: 'auth.htpasswd',
  tlsCert: 'tls.cert',
  tlsKey: 'tls.key',
  tlsNames: 'tls.auto.names',
  dataDir: 'dataDir',
  logLevel: 'log.level',
  logFormat: 'log.format',
  metricsListen: 'metrics.listen',
};

function formatIssues(error: z.ZodError, source: string, origins: ValueOrigins): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.length > 0 ? issue.path.map(String).join('.') : '(top level)';
      const message = issue.code === 'unrecognized_keys' ? `unknown key(s): ${issue.keys.join(', ')}` : issue.message;
      // A value set from outside fails at its own path, inside it (`tls.auto.names.0`) or at the
      // section holding it (`tls`, when a cert came without its key).
      const origin = [...origins].find(([key]) => key === path || path.startsWith(`${key}.`) || key.startsWith(`${path}.`))?.[1];
      return origin ? `${origin} (${path}): ${message}` : `${source}: ${path}: ${message}`;
    })
    .join('\n');
}

function section(raw: Record<string, unknown>, key: string): Record<string, unknown> {
  const current = raw[key];
  return typeof current === 'object' && current !== null ? (current as Record<string, unknown>) : {};
}

/**
 * More names for the generated certificate (`tls.auto.names`), as `tls: auto` is the default: with
 * `tls` set to files or `off` there is no generated certificate to name them, which is an error.
 */
function withTlsNames(tls: unknown, names: string): unknown {
  const list = names
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  if (tls === undefined || tls === 'auto') return { auto: { names: list } };
  if (typeof tls === 'object' && tls !== null && 'auto' in tls) return { auto: { ...(tls.auto as object), names: list } };
  throw new ConfigError('REGISTRY_GATE_TLS_NAMES names the generated certificate, but tls is not auto here (it is a cert and key, or off)');
}

function applyOverrides(raw: Record<string, unknown>, overrides: ConfigOverrides): void {
  if (overrides.tlsNames !== undefined) raw.tls = withTlsNames(raw.tls, overrides.tlsNames);
  if (overrides.listen !== undefined) raw.listen = overrides.listen;
  if (overrides.dataDir !== undefined) raw.dataDir = overrides.dataDir;
  if (overrides.logLevel !== undefined) raw.log = { ...section(raw, 'log'), level: overrides.logLevel };
  if (overrides.logFormat !== undefined) raw.log = { ...section(raw, 'log'), format: overrides.logFormat };
  if (overrides.metricsListen !== undefined) raw.metrics = { ...section(raw, 'metrics'), listen: overrides.metricsListen };
  if (overrides.upstream !== undefined) {
    const current = typeof raw.upstream === 'object' && raw.upstream !== null ? raw.upstream : {};
    raw.upstream = { ...current, url: overrides.upstream };
  }
  if (overrides.htpasswd !== undefined) {
    const current = typeof raw.auth === 'object' && raw.auth !== null ? raw.auth : {};
    raw.auth = { ...current, htpasswd: overrides.htpasswd };
  }
  if (overrides.tlsCert !== undefined || overrides.tlsKey !== undefined) {
    const current = typeof raw.tls === 'object' && raw.tls !== null ? (raw.tls as Record<string, unknown>) : {};
    raw.tls = {
      ...current,
      ...(overrides.tlsCert ? { cert: overrides.tlsCert } : {}),
      ...(overrides.tlsKey ? { key: overrides.tlsKey } : {}),
    };
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

export function parseConfigText(text: string, source: string): Record<string, unknown> {
  const document = parseDocument(text, { uniqueKeys: true });
  if (document.errors.length > 0) {
    // The parser's whole message: it quotes the offending line and points at the column.
    throw new ConfigError(document.errors.map((error) => `${source}: ${error.message.trimEnd()}`).join('\n'));
  }
  const raw: unknown = document.toJS() ?? {};
  if (typeof raw !== 'object' || Array.isArray(raw) || raw === null) throw new ConfigError(`${source}: the file must be a YAML mapping`);
  return raw as Record<string, unknown>;
}

/** What each key allows but no configuration can do together. */
function refuseImpossibleCombinations(value: ParsedConfig, source: string): void {
  if (value.auth.providers?.includes('ldap') && !value.auth.ldap)
    throw new ConfigError(`${source}: auth.providers: ldap is listed but auth.ldap is not configured`);
  // The event queue is one process's (src/events/): its appends, cursors and deliveries are not shared between workers yet.
  if (value.events.webhooks.length > 0 && typeof value.workers === 'number' && value.workers > 1)
    throw new ConfigError(`${source}: workers: events.webhooks needs one process (workers: 1 or auto)`);
}

function resolveTls(tls: ParsedConfig['tls'], at: (path: string) => string, dataDir: string): TlsSetting {
  if (tls === 'off') return { mode: 'off' };
  const auto = { mode: 'auto', dir: resolve(dataDir, 'tls'), trustDir: resolve(dataDir, 'tls-trust') } as const;
  if (tls === 'auto') return { ...auto, names: [] };
  if ('auto' in tls) return { ...auto, names: tls.auto.names };
  return { mode: 'files', cert: at(tls.cert), key: at(tls.key) };
}

/** Validates raw values; `baseDir` anchors relative paths. Throws ConfigError naming each bad key. */
export function buildConfig(
  raw: Record<string, unknown>,
  baseDir: string,
  source: string | undefined,
  origins: ValueOrigins = new Map(),
): Config {
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(formatIssues(parsed.error, source ?? 'config', origins));
  const value = parsed.data;
  refuseImpossibleCombinations(value, source ?? 'config');
  const hasWebhooks = value.events.webhooks.length > 0;
  const at = (path: string) => resolve(baseDir, path);
  const dataDir = at(value.dataDir);
  const tls = resolveTls(value.tls, at, dataDir);

  const firstRunAdmins = firstRunUiAdmins(value);
  const config: Config = {
    ...value,
    ...firstRunAdmins,
    source,
    workers: value.workers === 'auto' ? (hasWebhooks ? 1 : autoWorkers()) : value.workers,
    dataDir,
    tls,
    upstream: value.upstream && {
      ...value.upstream,
      url: value.upstream.url.replace(/\/$/, ''),
      ca: value.upstream.ca && at(value.upstream.ca),
    },
    redis: value.redis && {
      ...value.redis,
      tls: typeof value.redis.tls === 'object' ? { ...value.redis.tls, ca: value.redis.tls.ca && at(value.redis.tls.ca) } : value.redis.tls,
    },
    signatures: value.signatures.map((policy) => ({ ...policy, keys: policy.keys.map(at) })),
    audit: {
      ...value.audit,
      file: value.audit.file === 'stdout' ? 'stdout' : at(value.audit.file),
      syslog: value.audit.syslog && { ...value.audit.syslog, ca: value.audit.syslog.ca && at(value.audit.syslog.ca) },
    },
    storage: { ...value.storage, root: value.storage.root ? at(value.storage.root) : resolve(dataDir, 'registry') },
    cache: { ...value.cache, dir: value.cache.dir ? at(value.cache.dir) : resolve(dataDir, 'cache') },
    events: {
      ...value.events,
      webhooks: value.events.webhooks.map((hook) => ({ ...hook, secretFile: at(hook.secretFile), ca: hook.ca && at(hook.ca) })),
    },
    mirrors: value.mirrors.map((mirror) => ({
      ...mirror,
      url: mirror.url.replace(/\/$/, ''),
      credentialsFile: mirror.credentialsFile && at(mirror.credentialsFile),
      ca: mirror.ca && at(mirror.ca),
    })),
    auth: {
      ...value.auth,
      providers: value.auth.providers ?? (value.auth.ldap ? ['htpasswd', 'ldap'] : ['htpasswd']),
      token: resolveTokenConfig(value.auth.token, at, dataDir),
      tokenEndpoint: value.auth.scheme === 'bearer' || value.auth.token !== undefined || value.auth.federation.length > 0,
      groupFile: value.auth.groupFile && at(value.auth.groupFile),
      ldap: value.auth.ldap && {
        ...value.auth.ldap,
        bindPasswordFile: value.auth.ldap.bindPasswordFile && at(value.auth.ldap.bindPasswordFile),
        tls: { ...value.auth.ldap.tls, ca: value.auth.ldap.tls.ca && at(value.auth.ldap.tls.ca) },
      },
      oidc: value.auth.oidc && {
        ...value.auth.oidc,
        clientSecretFile: value.auth.oidc.clientSecretFile && at(value.auth.oidc.clientSecretFile),
        ca: value.auth.oidc.ca && at(value.auth.oidc.ca),
        stateDir: value.auth.oidc.stateDir ? at(value.auth.oidc.stateDir) : resolve(dataDir, 'oidc'),
      },
      tokens: {
        ...value.auth.tokens,
        store: value.auth.tokens.store ? at(value.auth.tokens.store) : resolve(dataDir, 'tokens', 'personal-tokens.json'),
      },
      federation: value.auth.federation.map((policy) => ({ ...policy, ca: policy.ca && at(policy.ca) })),
      htpasswd: value.auth.htpasswd ? at(value.auth.htpasswd) : resolve(dataDir, 'htpasswd'),
      htpasswdIsDefault: value.auth.htpasswd === undefined,
    },
  };
  return deepFreeze(config);
}

/** The user a first start creates in the first-run htpasswd file (src/assembly/first-run.ts). */
export const FIRST_RUN_USER = 'admin';
/** The group of the first-run user, when nothing else names the UI's administrators. */
export const FIRST_RUN_ADMIN_GROUP = 'admins';

/**
 * With the first-run htpasswd file (no `auth.htpasswd`) and no `ui.adminGroup`, the first-run user
 * `admin` administers the UI too: `ui.adminGroup` is `admins`, and the config group `admins` holds
 * `admin` unless `groups` defines that group itself. A deployment with its own users names its own
 * administrators.
 */
function firstRunUiAdmins(value: z.output<typeof configSchema>): Pick<Config, 'ui' | 'groups'> {
  if (value.auth.htpasswd !== undefined || value.ui.adminGroup !== undefined) return { ui: value.ui, groups: value.groups };
  return {
    ui: { ...value.ui, adminGroup: FIRST_RUN_ADMIN_GROUP },
    groups: { [FIRST_RUN_ADMIN_GROUP]: [FIRST_RUN_USER], ...value.groups },
  };
}

/**
 * `workers: auto`: one per core on 3 cores or more, for the gateway and the built-in registry alike
 * (its upload sessions live on disk, so any worker can take the next chunk). On 2 cores a primary
 * and two workers measured no faster than one process and used 2.6 times the memory (bench/,
 * docs/benchmarks.md), so one process it is.
 */
export function autoWorkers(cores = availableParallelism()): number {
  return cores >= 3 ? cores : 1;
}

export interface LoadOptions {
  /** The config file; when undefined, the one REGISTRY_GATE_CONFIG names, if any. */
  file?: string | undefined;
  overrides?: ConfigOverrides;
  env?: NodeJS.ProcessEnv;
}

export async function loadConfig(options: LoadOptions = {}): Promise<Config> {
  const env = options.env ?? process.env;
  let raw: Record<string, unknown> = {};
  let baseDir = process.cwd();
  let source: string | undefined;
  const file = options.file ?? (env[CONFIG_FILE_VARIABLE] || undefined);
  if (file !== undefined) {
    source = resolve(file);
    let text: string;
    try {
      text = await readFile(source, 'utf8');
    } catch (error) {
      throw new ConfigError(`${source}: cannot read: ${errnoCode(error) ?? String(error)}`, 'RG_ERR_CONFIG_UNREADABLE');
    }
    raw = parseConfigText(text, source);
    baseDir = dirname(source);
  }
  const fromEnv: ConfigOverrides = {};
  const origins = new Map<string, string>();
  for (const { name, key } of ENV_VARIABLES) {
    if (key === undefined || env[name] === undefined || env[name] === '') continue;
    fromEnv[key] = env[name];
    origins.set(OVERRIDE_PATHS[key], `the environment variable ${name}`);
  }
  applyOverrides(raw, fromEnv);
  const flags = options.overrides ?? {};
  for (const key of Object.keys(OVERRIDE_PATHS) as Array<keyof ConfigOverrides>) {
    if (flags[key] !== undefined)
      origins.set(OVERRIDE_PATHS[key], `the flag --${key.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`);
  }
  applyOverrides(raw, flags);
  return buildConfig(raw, baseDir, source, origins);
}

export function splitHostPort(listen: string): { host: string; port: number } {
  const at = listen.lastIndexOf(':');
  const host = listen.slice(0, at).replace(/^\[(.*)\]$/, '$1');
  return { host: host === '' ? '0.0.0.0' : host, port: Number(listen.slice(at + 1)) };
}
