/** registry-gate as a separate process (the real CLI), for tests that need signals, RSS, workers or first-run output. */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeHtpasswd } from './gate.js';
import { freePort, startProcess, type RunningProcess } from './process.js';

export const CLI = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');

export interface GateProcess extends RunningProcess {
  url: string;
}

export async function startGateProcess(
  args: string[],
  options: { cwd: string; url: string; caPem?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv },
): Promise<GateProcess> {
  const running = await startProcess(process.execPath, [CLI, 'serve', ...args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    readyWhen: (line) => line.includes('registry-gate is listening'),
    timeoutMs: options.timeoutMs ?? 20_000,
  });
  return Object.assign(running, { url: options.url });
}

export interface ConfiguredGateOptions {
  /** The working directory; the config file is written here and relative paths in it resolve here. */
  dir: string;
  /** The config's keys, as written; `listen` defaults to a free loopback port. */
  config: Record<string, unknown>;
  /** Written to `dir/htpasswd` (bcrypt cost 4) before the start, when given. */
  users?: Record<string, string>;
  /** The config file's name in `dir` (default `gate.yaml`). */
  file?: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

export interface ConfiguredGateProcess extends GateProcess {
  configFile: string;
  port: number;
}

/**
 * The one way tests run `registry-gate serve --config FILE`: writes the config (JSON is YAML) with a
 * free loopback port, starts the CLI and waits for its "listening" line. The URL's scheme follows `tls`.
 */
export async function startConfiguredGateProcess(options: ConfiguredGateOptions): Promise<ConfiguredGateProcess> {
  if (options.users) await writeHtpasswd(join(options.dir, 'htpasswd'), options.users, 4);
  const port = await freePort();
  const config: Record<string, unknown> = { listen: `127.0.0.1:${port}`, ...options.config };
  const configFile = join(options.dir, options.file ?? 'gate.yaml');
  await writeFile(configFile, JSON.stringify(config, null, 2));
  const scheme = config.tls === 'off' ? 'http' : 'https';
  const gate = await startGateProcess(['--config', configFile], {
    cwd: options.dir,
    url: `${scheme}://127.0.0.1:${port}`,
    timeoutMs: options.timeoutMs,
    env: options.env,
  });
  return Object.assign(gate, { configFile, port });
}

/** Peak resident set size (VmHWM) of a process and its children (cluster workers), in bytes, from /proc. */
export async function peakRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = /VmHWM:\s+(\d+) kB/.exec(status);
  if (!match) throw new Error('no VmHWM in /proc status');
  const children = (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '')).split(/\s+/).filter(Boolean).map(Number);
  const sizes = await Promise.all(children.map((child) => peakRss(child).catch(() => 0)));
  return Number(match[1]) * 1024 + sizes.reduce((sum, size) => sum + size, 0);
}
