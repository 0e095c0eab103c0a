/** registry-gate as a separate process (the real CLI), for tests that need signals, RSS or first-run output. */
import { join } from 'node:path';
import { startProcess, type RunningProcess } from './process.js';

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

/** Peak resident set size (VmHWM) of a process and its children (cluster workers), in bytes, from /proc. */
export async function peakRss(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = /VmHWM:\s+(\d+) kB/.exec(status);
  if (!match) throw new Error('no VmHWM in /proc status');
  const children = (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '')).split(/\s+/).filter(Boolean).map(Number);
  const sizes = await Promise.all(children.map((child) => peakRss(child).catch(() => 0)));
  return Number(match[1]) * 1024 + sizes.reduce((sum, size) => sum + size, 0);
}
