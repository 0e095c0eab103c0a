/**
 * What a config reload may change in a running server. Access rules, groups, the upstream, LDAP,
 * the token service, audit, clients, trusted proxies and the catalog are rebuilt and swapped in;
 * what names a socket, the processes or where data lives is not: those keys keep their running
 * values and are reported as needing a restart, and the rest of the new config applies.
 */
import type { Config } from './load.js';

export interface ReloadPlan {
  /** Top-level keys whose value differs from the running config (`log.level`-like paths for parts of one). */
  readonly changed: readonly string[];
  /** Those of them that take effect only after a restart. */
  readonly needsRestart: readonly string[];
  /** The config to run now: the new one, with every restart-only key as it is running. */
  readonly effective: Config;
}

/** Keys a running server keeps until it restarts: listeners, processes, storage, logger setup. */
const RESTART_ONLY = ['listen', 'workers', 'tls', 'dataDir', 'storage', 'server', 'metrics', 'events'] as const;

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export function planReload(running: Config, next: Config): ReloadPlan {
  const keys = new Set([...Object.keys(running), ...Object.keys(next)].filter((key) => key !== 'source' && key !== 'log'));
  const changed: string[] = [];
  for (const key of keys) if (!same(running[key as keyof Config], next[key as keyof Config])) changed.push(key);
  for (const key of ['level', 'format', 'access'] as const) if (!same(running.log[key], next.log[key])) changed.push(`log.${key}`);

  const needsRestart: string[] = RESTART_ONLY.filter((key) => changed.includes(key));
  if (changed.includes('log.level')) needsRestart.push('log.level');
  if (changed.includes('log.format')) needsRestart.push('log.format');
  // Between an upstream and the built-in registry is a change of backend, which holds upload state.
  const backendSwitch = Boolean(running.upstream) !== Boolean(next.upstream);
  if (backendSwitch) needsRestart.push('upstream');

  const effective: Config = {
    ...next,
    ...Object.fromEntries(RESTART_ONLY.map((key) => [key, running[key]])),
    log: { ...next.log, level: running.log.level, format: running.log.format },
    upstream: backendSwitch ? running.upstream : next.upstream,
  };
  return { changed, needsRestart, effective: Object.freeze(effective) };
}

/** Whether two configs give one part the same settings (a part that can then be kept as it runs). */
export function sameSettings(a: unknown, b: unknown): boolean {
  return same(a, b);
}
