/**
 * Small authenticated requests under load with `wrk`: a Lua script sets the method and, in
 * `done()`, prints one JSON line (prefixed `WRK_RESULT `) with the request count, errors and
 * latency percentiles, which `parseWrkResult` reads. wrk's own text summary is ignored.
 *
 * wrk 4.1 cannot do HEAD: its response parser never learns the request was HEAD, so it waits for
 * the Content-Length bytes a HEAD response announces but never sends, and completes no request.
 * HEAD runs go to ApacheBench instead (bench/ab.ts).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runProcess } from '../test/helpers/process.js';

export const WRK_BIN = process.env.WRK_BIN ?? 'wrk';
const MARKER = 'WRK_RESULT ';

export const WRK_LUA = `-- Written by bench/wrk.ts.
wrk.method = os.getenv("BENCH_METHOD") or "GET"

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '${MARKER}{"requests":%d,"durationUs":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latencyUs":{"p50":%.1f,"p90":%.1f,"p99":%.1f,"mean":%.1f,"max":%.1f}}\\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
`;

export interface WrkResult {
  requests: number;
  durationUs: number;
  bytes: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  latencyUs: { p50: number; p90: number; p99: number; mean: number; max: number };
}

/** What a load run reports, whichever tool ran it. */
export interface LoadSummary {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Failed requests of any kind (socket errors, timeouts, non-2xx/3xx answers). */
  errors: number;
  requests: number;
}

export function parseWrkResult(stdout: string): WrkResult {
  const line = stdout.split('\n').find((l) => l.startsWith(MARKER));
  if (!line) throw new Error(`wrk printed no result line:\n${stdout.slice(-2000)}`);
  return JSON.parse(line.slice(MARKER.length)) as WrkResult;
}

export function summarizeWrk(result: WrkResult): LoadSummary {
  const e = result.errors;
  if (result.requests === 0) throw new Error('wrk completed no request');
  return {
    requestsPerSecond: result.durationUs > 0 ? result.requests / (result.durationUs / 1e6) : 0,
    p50Ms: result.latencyUs.p50 / 1000,
    p99Ms: result.latencyUs.p99 / 1000,
    errors: e.connect + e.read + e.write + e.status + e.timeout,
    requests: result.requests,
  };
}

export async function writeWrkScript(dir: string): Promise<string> {
  const file = join(dir, 'bench.lua');
  await writeFile(file, WRK_LUA);
  return file;
}

export interface WrkRun {
  url: string;
  method: 'GET';
  headers: Record<string, string>;
  seconds: number;
  threads: number;
  connections: number;
  timeoutSeconds: number;
  script: string;
}

export async function runWrk(run: WrkRun): Promise<LoadSummary> {
  const args = [
    `-t${run.threads}`,
    `-c${run.connections}`,
    `-d${run.seconds}s`,
    '--timeout',
    `${run.timeoutSeconds}s`,
    '-s',
    run.script,
    ...Object.entries(run.headers).flatMap(([name, value]) => ['-H', `${name}: ${value}`]),
    run.url,
  ];
  const result = await runProcess(WRK_BIN, args, {
    env: { ...process.env, BENCH_METHOD: run.method },
    // wrk stops on its own after -d; this only catches a hung wrk.
    timeoutMs: (run.seconds + run.timeoutSeconds + 30) * 1000,
  });
  if (result.code !== 0) throw new Error(`wrk exited ${result.code ?? result.signal}: ${result.stderr.trim() || result.stdout.trim()}`);
  return summarizeWrk(parseWrkResult(result.stdout));
}
