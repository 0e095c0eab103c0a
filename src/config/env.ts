/**
 * The REGISTRY_GATE_* environment variables: what each sets and its default when unset. One table
 * for the loader (src/config/load.ts) and for `--help`; it imports nothing, so the help text costs
 * no config code.
 */

/** The config keys that environment variables (and the matching `serve` flags) may set. */
export interface ConfigOverrides {
  listen?: string | undefined;
  upstream?: string | undefined;
  htpasswd?: string | undefined;
  tlsCert?: string | undefined;
  tlsKey?: string | undefined;
  tlsNames?: string | undefined;
  dataDir?: string | undefined;
  logLevel?: string | undefined;
  logFormat?: string | undefined;
  metricsListen?: string | undefined;
}

export interface EnvVariable {
  readonly name: string;
  /** The override it sets; absent for REGISTRY_GATE_CONFIG, which names the file itself. */
  readonly key?: keyof ConfigOverrides;
  readonly sets: string;
  readonly fallback: string;
}

export const CONFIG_FILE_VARIABLE = 'REGISTRY_GATE_CONFIG';

export const ENV_VARIABLES: readonly EnvVariable[] = [
  { name: CONFIG_FILE_VARIABLE, sets: 'the YAML config file, when no --config is given', fallback: 'none: every key at its default' },
  { name: 'REGISTRY_GATE_LISTEN', key: 'listen', sets: 'listen', fallback: '0.0.0.0:5043' },
  { name: 'REGISTRY_GATE_UPSTREAM', key: 'upstream', sets: 'upstream.url', fallback: 'none: the built-in registry in dataDir/registry' },
  {
    name: 'REGISTRY_GATE_HTPASSWD',
    key: 'htpasswd',
    sets: 'auth.htpasswd',
    fallback: 'dataDir/htpasswd, created with an admin user on first start',
  },
  { name: 'REGISTRY_GATE_TLS_CERT', key: 'tlsCert', sets: 'tls.cert', fallback: 'tls: auto, a self-signed pair in dataDir/tls' },
  { name: 'REGISTRY_GATE_TLS_KEY', key: 'tlsKey', sets: 'tls.key', fallback: 'tls: auto' },
  {
    name: 'REGISTRY_GATE_TLS_NAMES',
    key: 'tlsNames',
    sets: 'tls.auto.names (comma-separated host names and IP addresses, for the generated certificate)',
    fallback: "this machine's own names and addresses only",
  },
  { name: 'REGISTRY_GATE_DATA_DIR', key: 'dataDir', sets: 'dataDir', fallback: './data' },
  { name: 'REGISTRY_GATE_LOG_LEVEL', key: 'logLevel', sets: 'log.level', fallback: 'info' },
  { name: 'REGISTRY_GATE_LOG_FORMAT', key: 'logFormat', sets: 'log.format', fallback: 'pretty on a terminal, else json' },
  {
    name: 'REGISTRY_GATE_METRICS_LISTEN',
    key: 'metricsListen',
    sets: 'metrics.listen (and turns metrics on)',
    fallback: 'none: metrics off',
  },
];

/** The table as `--help` shows it. */
export function environmentHelp(): string {
  const width = Math.max(...ENV_VARIABLES.map((variable) => variable.name.length));
  const lines = ENV_VARIABLES.map((variable) => `  ${variable.name.padEnd(width)}  ${variable.sets} (default: ${variable.fallback})`);
  return ['Environment (a set, non-empty variable overrides the config file; a flag overrides both):', ...lines].join('\n');
}
