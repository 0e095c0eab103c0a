/**
 * A real Prometheus (Debian's `prometheus` package) scraping one target on loopback every second,
 * and `promtool check metrics`, the Prometheus project's own parser and linter. Tests read what
 * Prometheus itself stored through its query API: if it could not parse an exposition, the target
 * is down with the parser's error, and there is nothing to read.
 */
import { writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { freePort, runProcess, startProcess, type RunningProcess } from './process.js';

export const PROMETHEUS_BIN = process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus';
export const PROMTOOL_BIN = process.env.PROMTOOL_BIN ?? '/usr/bin/promtool';

const JOB = 'registry-gate';

export interface Sample {
  readonly labels: Record<string, string>;
  readonly value: number;
}

export interface RunningPrometheus {
  readonly url: string;
  /** An instant query (PromQL) → its samples. */
  query(expr: string): Promise<Sample[]>;
  /** The value of a query that yields one sample (0 when it yields none). */
  value(expr: string): Promise<number>;
  /** Waits until a scrape that started after this call has been stored; throws with the target's error if it failed. */
  nextScrape(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

interface TargetsResponse {
  data: { activeTargets: Array<{ scrapePool: string; health: string; lastError: string; lastScrape: string }> };
}

export async function startPrometheus(dir: string, target: { host: string; port: number; path?: string }): Promise<RunningPrometheus> {
  await mkdir(join(dir, 'data'), { recursive: true });
  const port = await freePort();
  const config = join(dir, 'prometheus.yml');
  await writeFile(
    config,
    [
      'global: { scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 1m }',
      'scrape_configs:',
      `  - job_name: ${JOB}`,
      `    metrics_path: ${target.path ?? '/metrics'}`,
      `    static_configs: [{ targets: ["${target.host}:${target.port}"] }]`,
      '',
    ].join('\n'),
  );
  const url = `http://127.0.0.1:${port}`;
  const running: RunningProcess = await startProcess(
    PROMETHEUS_BIN,
    [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { readyUrl: `${url}/-/ready`, timeoutMs: 30_000 },
  );

  async function api<T>(path: string): Promise<T> {
    const response = await request(`${url}${path}`, { headersTimeout: 5_000, bodyTimeout: 5_000 });
    const body = await response.body.text();
    if (response.statusCode !== 200) throw new Error(`prometheus ${path}: ${response.statusCode} ${body}`);
    return JSON.parse(body) as T;
  }

  async function query(expr: string): Promise<Sample[]> {
    const answer = await api<{ data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } }>(
      `/api/v1/query?query=${encodeURIComponent(expr)}`,
    );
    return answer.data.result.map((entry) => ({ labels: entry.metric, value: Number(entry.value[1]) }));
  }

  return {
    url,
    query,
    async value(expr) {
      const samples = await query(expr);
      if (samples.length > 1) throw new Error(`${expr}: ${samples.length} samples, expected one`);
      return samples[0]?.value ?? 0;
    },
    async nextScrape(timeoutMs = 10_000) {
      const after = Date.now();
      const deadline = after + timeoutMs;
      for (;;) {
        const targets = await api<TargetsResponse>('/api/v1/targets');
        const mine = targets.data.activeTargets.find((candidate) => candidate.scrapePool === JOB);
        if (mine && Date.parse(mine.lastScrape) > after) {
          if (mine.health !== 'up') throw new Error(`Prometheus could not scrape the target: ${mine.lastError}`);
          // The API reads the head block: the samples of this scrape are queryable once it reports them.
          await sleep(100);
          return;
        }
        if (Date.now() > deadline) throw new Error(`no scrape within ${timeoutMs} ms (target: ${JSON.stringify(mine)})`);
        await sleep(200);
      }
    },
    stop: () => running.stop(),
  };
}

/** `promtool check metrics` on an exposition: the Prometheus parser and its lint rules. Resolves with its complaints ('' when none). */
export async function promtoolProblems(exposition: string): Promise<string> {
  const result = await runProcess(PROMTOOL_BIN, ['check', 'metrics'], { input: exposition, timeoutMs: 30_000 });
  return result.code === 0 ? '' : `${result.stdout}${result.stderr}`.trim() || `promtool exited ${result.code}`;
}
