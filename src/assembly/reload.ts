/**
 * Reload: what SIGHUP and a change of the config file do. The config is read again as at start,
 * compared with the running one (src/config/changes.ts: keys that name sockets, processes or
 * storage keep their running values and are logged as needing a restart), and a new generation is
 * built in full (src/assembly/generation.ts); a build that fails has closed what it opened, and the
 * running generation goes on. Then one reference is swapped (src/server/handler-switch.ts): new
 * requests get the new generation, each request in flight keeps the one it started with, and the
 * old generation is closed once its last request is done. The throttle's counters and an unchanged
 * audit sink are carried over. Nothing here outlives the process's own resources, which
 * src/assembly/app.ts owns.
 */
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config/load.js';
import { planReload, sameSettings } from '../config/changes.js';
import { FileWatch } from '../lib/watched-file.js';
import { internalErrorCode } from '../lib/internal-errors.js';
import { HandlerSwitch } from '../server/handler-switch.js';
import { buildGeneration, type Generation, type ProcessResources } from './generation.js';

/** How long a changed config file must stay unchanged before it is read. */
const CONFIG_SETTLE_MS = 300;

/**
 * Whether a changed config file is whole: an editor writing in place truncates it first, then
 * writes, perhaps in several steps. Its content must be the same twice, CONFIG_SETTLE_MS apart, and
 * not empty (an emptied file would mean "every key at its default"; SIGHUP still applies one).
 * When it is not, the watcher sees the next change and asks again.
 */
async function settled(file: string): Promise<boolean> {
  const read = () => readFile(file).catch(() => undefined);
  const first = await read();
  await sleep(CONFIG_SETTLE_MS);
  const second = await read();
  return first !== undefined && second !== undefined && first.equals(second) && second.toString('utf8').trim() !== '';
}

export interface ReloadOptions {
  /** Reads the config again as it was read at start; without it, a reload re-reads only the files the config names. */
  readonly loadConfig?: (() => Promise<Config>) | undefined;
  /** Re-reads what the process itself holds that a SIGHUP must refresh (the TLS pair). */
  readonly reloadProcessFiles?: ((reason: string) => Promise<void>) | undefined;
}

/** The running generation, the ones still finishing their requests, and how the next one replaces them. */
export class Generations {
  readonly handlers: HandlerSwitch;
  #current: Generation;
  /** Generations replaced by a reload whose last requests are still running. */
  readonly #retiring = new Set<Generation>();
  /** The config as last read and applied (restart-only keys included), to tell the watcher's repeats from changes. */
  #lastApplied: Config;
  #reloading: Promise<void> = Promise.resolve();
  #watch: FileWatch | undefined;

  constructor(
    first: Generation,
    private readonly resources: ProcessResources,
    private readonly options: ReloadOptions,
  ) {
    this.#current = first;
    this.#lastApplied = first.config;
    this.handlers = new HandlerSwitch(first.handler);
  }

  get current(): Generation {
    return this.#current;
  }

  /** Watches the config file the process was started from, reloading once a change has settled. */
  async watchConfig(): Promise<void> {
    const source = this.#current.config.source;
    if (!this.options.loadConfig || !source) return;
    this.#watch = new FileWatch(source, () =>
      settled(source).then((still) => (still ? this.reload('config file changed', false) : undefined)),
    );
    await this.#watch.prime();
  }

  /**
   * One reload after another. `signal`: asked for (SIGHUP), so the files are re-read too and an
   * unchanged config still counts as a reload.
   */
  reload(reason: string, signal: boolean): Promise<void> {
    const { loggers } = this.resources;
    return (this.#reloading = this.#reloading
      .then(async () => {
        if (signal) {
          this.#current.audit.reopen();
          await Promise.all([this.options.reloadProcessFiles?.(reason), this.#current.auth.reload()]);
        }
        await this.#applyConfig(reason, signal);
      })
      .catch((error: unknown) => loggers.app.error({ reason, err: error }, 'reload failed')));
  }

  /** Stops watching, waits for a reload under way, and closes every generation. */
  async close(): Promise<void> {
    await this.#watch?.close();
    await this.#reloading;
    await Promise.all([this.#current.close(), ...[...this.#retiring].map((old) => old.close())]);
  }

  /** Reads the config again and swaps in a generation built from it; a config that fails keeps the running one. */
  async #applyConfig(reason: string, countUnchanged: boolean): Promise<void> {
    const { loadConfig } = this.options;
    if (!loadConfig) return;
    const { loggers, metrics } = this.resources;
    const refused = (error: unknown) => {
      metrics.configReloaded('failed');
      loggers.app.error(
        { reason, problem: error instanceof Error ? error.message : String(error), code: internalErrorCode(error) },
        'config reload failed; keeping the running config',
      );
    };
    let next: Config;
    try {
      next = await loadConfig();
    } catch (error) {
      refused(error);
      return;
    }
    // The watcher often sees again what a SIGHUP already applied: that is no reload.
    if (!countUnchanged && sameSettings(next, this.#lastApplied)) return;
    const plan = planReload(this.#current.config, next);
    if (plan.needsRestart.length > 0)
      loggers.app.warn({ reason, keys: plan.needsRestart }, 'config change needs a restart to apply; the rest of the config is applied');
    const live = plan.changed.filter((key) => !plan.needsRestart.includes(key));
    if (live.length > 0) {
      try {
        await this.#replace(plan.effective, reason);
      } catch (error) {
        refused(error);
        return;
      }
      loggers.app.info({ reason, changed: live }, 'config reloaded');
    }
    this.#lastApplied = next;
    metrics.configReloaded('ok');
  }

  /** Builds a generation from `config` and swaps it in; the running one closes after its last request. */
  async #replace(config: Config, reason: string): Promise<void> {
    const running = this.#current;
    const keepAudit = sameSettings(running.config.audit, config.audit);
    const keepThrottle = sameSettings(running.config.auth.throttle, config.auth.throttle);
    const fresh = await buildGeneration(config, this.resources, {
      audit: keepAudit ? running.audit : undefined,
      throttle: keepThrottle ? running.auth.throttle : undefined,
    });
    if (keepAudit) running.releaseAudit();
    this.#current = fresh;
    this.#retiring.add(running);
    void this.handlers.swap(fresh.handler).then(async () => {
      this.#retiring.delete(running);
      await running.close();
      this.resources.loggers.app.info({ reason }, 'the previous config was closed after its last request');
    });
  }
}
