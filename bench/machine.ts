/** The machine and tool versions the report is stamped with. */
import { readFile } from 'node:fs/promises';
import { availableParallelism, loadavg, release, totalmem } from 'node:os';
import { runProcess } from '../test/helpers/process.js';
import { DISTRIBUTION_BIN } from '../test/helpers/distribution.js';
import { nginxVersion } from './nginx.js';
import { CURL_BIN } from './blobs.js';
import { WRK_BIN } from './wrk.js';
import { AB_BIN } from './ab.js';
import type { Machine } from './report.js';

async function cpuModel(): Promise<string> {
  try {
    const info = await readFile('/proc/cpuinfo', 'utf8');
    return /^model name\s*:\s*(.+)$/m.exec(info)?.[1]?.trim() ?? 'unknown CPU';
  } catch {
    return 'unknown CPU';
  }
}

async function firstLine(cmd: string, args: string[], pattern: RegExp): Promise<string> {
  try {
    const result = await runProcess(cmd, args, { timeoutMs: 10_000 });
    const text = `${result.stdout}\n${result.stderr}`;
    return pattern.exec(text)?.[1] ?? 'unknown';
  } catch {
    return 'not found';
  }
}

export async function describeMachine(): Promise<Machine> {
  const [cpu, nginx, distribution, wrk, ab, curl, skopeo] = await Promise.all([
    cpuModel(),
    nginxVersion().catch(() => 'not found'),
    firstLine(DISTRIBUTION_BIN, ['--version'], /(v?\d+\.\d+\.\d+\S*)/),
    firstLine(WRK_BIN, ['--version'], /^wrk (\S+)/m),
    firstLine(AB_BIN, ['-V'], /Version (\S+)/),
    firstLine(CURL_BIN, ['--version'], /^curl (\S+)/m),
    firstLine('skopeo', ['--version'], /version (\S+)/),
  ]);
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    node: process.version,
    cpu,
    cores: availableParallelism(),
    memory: `${Math.round(totalmem() / 1024 ** 3)} GiB`,
    kernel: release(),
    loadAverage: loadavg()[0] ?? 0,
    tools: { nginx, 'Distribution (docker-registry)': distribution, wrk, ab, curl, skopeo },
  };
}
