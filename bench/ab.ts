/**
 * HEAD requests under load with ApacheBench (`ab -i`, from apache2-utils, the package that also
 * provides `htpasswd`), because wrk cannot do HEAD (see bench/wrk.ts). One thread, keep-alive
 * (HTTP/1.0 with `Connection: Keep-Alive`), `-c` concurrent requests, stopped by `-t` seconds;
 * latency percentiles come from the `-e` CSV (microsecond resolution), the rest from the summary.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runProcess } from '../test/helpers/process.js';
import type { LoadSummary } from './wrk.js';

export const AB_BIN = process.env.AB_BIN ?? 'ab';

export interface AbRun {
  url: string;
  headers: Record<string, string>;
  seconds: number;
  concurrency: number;
  timeoutSeconds: number;
  /** Where ab writes its percentile CSV. */
  workDir: string;
}

function field(stdout: string, name: string): number | undefined {
  const match = new RegExp(`^${name}:\\s+([\\d.]+)`, 'm').exec(stdout);
  return match ? Number(match[1]) : undefined;
}

/** Percentile → milliseconds, from `ab -e` ("Percentage served,Time in ms" then "N,ms" lines). */
export function parseAbPercentiles(csv: string): Map<number, number> {
  const percentiles = new Map<number, number>();
  for (const line of csv.split('\n')) {
    const match = /^(\d+),([\d.]+)$/.exec(line.trim());
    if (match) percentiles.set(Number(match[1]), Number(match[2]));
  }
  return percentiles;
}

export function parseAbResult(stdout: string, csv: string): LoadSummary {
  const complete = field(stdout, 'Complete requests');
  const seconds = field(stdout, 'Time taken for tests');
  if (complete === undefined || seconds === undefined) throw new Error(`ab printed no summary:\n${stdout.slice(-2000)}`);
  if (complete === 0) throw new Error('ab completed no request');
  // ab reads its N-th percentile at index round(done × N / 100), past the end of its table when
  // fewer than 100 requests completed (it then prints 0): such a percentile is not known.
  const percentiles = parseAbPercentiles(csv);
  const percentile = (n: number): number => (complete >= 100 || n === 50 ? (percentiles.get(n) ?? NaN) : NaN);
  const errors = (field(stdout, 'Failed requests') ?? 0) + (field(stdout, 'Non-2xx responses') ?? 0) + (field(stdout, 'Write errors') ?? 0);
  return {
    requestsPerSecond: complete / seconds,
    p50Ms: percentile(50),
    p99Ms: percentile(99),
    errors,
    requests: complete,
  };
}

export async function runAbHead(run: AbRun): Promise<LoadSummary> {
  const csvFile = join(run.workDir, 'ab-percentiles.csv');
  const args = [
    '-q',
    '-i',
    '-k',
    '-r',
    '-c',
    String(run.concurrency),
    '-t',
    String(run.seconds),
    // -t alone caps the run at 50000 requests. ab allocates its per-request table for -n up front
    // (lazily touched), so keep it a bound on count rather than "infinite".
    '-n',
    String(Math.max(50_000, run.seconds * 200_000)),
    '-s',
    String(run.timeoutSeconds),
    '-e',
    csvFile,
    ...Object.entries(run.headers).flatMap(([name, value]) => ['-H', `${name}: ${value}`]),
    run.url,
  ];
  const result = await runProcess(AB_BIN, args, { timeoutMs: (run.seconds + run.timeoutSeconds + 30) * 1000 });
  if (result.code !== 0)
    throw new Error(`ab exited ${result.code ?? result.signal}: ${(result.stderr || result.stdout).trim().slice(-500)}`);
  return parseAbResult(result.stdout, await readFile(csvFile, 'utf8'));
}
