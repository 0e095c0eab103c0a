/**
 * The content cache's rows (issue 24), beside the warm pulls bench/workloads.ts already runs
 * through `gate-cached`:
 *
 *   pull cold 1, pull cold N   the pull blob through `gate-cached` with its cache emptied just before
 *                              (`registry-gate cache purge --digest`, as an operator would, while it
 *                              runs), against `gate` without a cache. For N streams also the bytes
 *                              the upstream sent, measured at the upstream: the `wchar` of
 *                              Distribution's process (/proc/PID/io: every byte it wrote to a socket
 *                              or file; nothing else talks to it meanwhile), as a multiple of the
 *                              blob; and the gateway's peak RSS (bench/memory.ts)
 *   HEAD manifest by digest    ab, as the HEAD by tag row, of `bench/small`'s manifest by its digest:
 *                              `registry` alone, `gate` and `gate-cached` (warm: read once before)
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { runAbHead } from './ab.js';
import { PULL_REPO, pullBlob, setPageCache, storedBlobPath } from './blobs.js';
import { measurePeakMemory } from './memory.js';
import { MANIFEST_ACCEPT } from './registry-api.js';
import { formatMiB, formatNumber } from './table.js';
import { BENCH_REPO_SMALL, BENCH_TAG, GATE_BIN, type Target } from './targets.js';
import { measure, rotate, timeWithCpu, type BenchContext } from './workloads.js';
import { runProcess } from '../test/helpers/process.js';

/** Bytes the process has written (sockets included): /proc/PID/io `wchar`. */
async function bytesWritten(pid: number): Promise<number> {
  const io = await readFile(`/proc/${pid}/io`, 'utf8');
  const line = io.split('\n').find((candidate) => candidate.startsWith('wchar:'));
  if (!line) throw new Error(`/proc/${pid}/io has no wchar`);
  return Number(line.slice('wchar:'.length));
}

/** Empties the cache of the pull blob with the command an operator runs (the server keeps running). */
async function purgePullBlob(ctx: BenchContext, target: Target): Promise<void> {
  const configFile = join(ctx.workDir, `gate-cached-cost-${String(target.cost)}`, 'registry-gate.yaml');
  const result = await runProcess(GATE_BIN, ['cache', 'purge', '--digest', ctx.pullFile.digest, '--config', configFile], {
    timeoutMs: 60_000,
  });
  // Status 2 "not in the cache": already cold (the last fill failed, or it was evicted).
  if (result.code !== 0 && !(result.code === 2 && result.stderr.includes('is not in the cache'))) {
    throw new Error(`cache purge exited ${String(result.code)}: ${result.stderr.trim()}`);
  }
}

export async function coldPullsRound(ctx: BenchContext, round: number): Promise<void> {
  const { options: o, fleet } = ctx;
  const cached = fleet.gateCached.get(o.transferCost);
  if (!cached || !o.targets.has('gate-cached')) return;
  const upstreamPid = fleet.registry.pid;
  for (const [workload, n] of [
    ['pull cold 1', 1],
    ['pull cold N', o.streams],
  ] as const) {
    await measure(ctx, workload, cached, round, async () => {
      await purgePullBlob(ctx, cached);
      await setPageCache(storedBlobPath(fleet.registry.storage, ctx.pullFile.digest), o.cache);
      const pulls = Array.from(
        { length: n },
        () => () => pullBlob(cached, PULL_REPO, ctx.pullFile, ctx.authHeaderFile, o.transferTimeoutMs),
      );
      const writtenBefore = upstreamPid ? await bytesWritten(upstreamPid) : Number.NaN;
      const { result, memory } = await measurePeakMemory(cached.pid, () => timeWithCpu(cached, n * ctx.pullFile.size, pulls));
      const upstreamTimes = ((upstreamPid ? await bytesWritten(upstreamPid) : Number.NaN) - writtenBefore) / ctx.pullFile.size;
      ctx.results.add(workload, cached, {
        mbps: result.mbps,
        cpuPerGB: result.cpuPerGB ?? Number.NaN,
        upstreamTimes,
        rssBytes: memory.peakBytes,
      });
      return `${formatNumber(result.mbps)} MB/s, upstream sent ${upstreamTimes.toFixed(3)} × the blob, peak RSS ${formatMiB(memory.peakBytes)}`;
    });
  }
}

/** The digest `registry` names for bench/small:v1 (pushed by bench/targets.ts). */
async function smallManifestDigest(registry: Target): Promise<string> {
  const response = await request(`${registry.url}/v2/${BENCH_REPO_SMALL}/manifests/${BENCH_TAG}`, {
    method: 'HEAD',
    headers: { accept: MANIFEST_ACCEPT },
    dispatcher: registry.dispatcher,
  });
  await response.body.dump();
  const digest = response.headers['docker-content-digest'];
  if (response.statusCode !== 200 || typeof digest !== 'string')
    throw new Error(`HEAD of the small manifest answered ${response.statusCode}`);
  return digest;
}

/** GET once (so the cache holds it), then expect 200 to a HEAD, as every HEAD of the run must be. */
async function readOnce(target: Target, path: string): Promise<void> {
  for (const method of ['GET', 'HEAD'] as const) {
    const response = await request(`${target.url}${path}`, {
      method,
      headers: { authorization: target.authorization, accept: MANIFEST_ACCEPT },
      dispatcher: target.dispatcher,
    });
    await response.body.dump();
    if (response.statusCode !== 200) throw new Error(`${method} ${path} answered ${response.statusCode} before the run`);
  }
}

export async function headByDigestRound(ctx: BenchContext, round: number): Promise<void> {
  const { options: o, fleet } = ctx;
  const candidates = [fleet.registry, fleet.gate.get(o.transferCost), fleet.gateCached.get(o.transferCost)];
  const targets = candidates.filter((target): target is Target => target !== undefined && o.targets.has(target.kind));
  const path = `/v2/${BENCH_REPO_SMALL}/manifests/${await smallManifestDigest(fleet.registry)}`;
  for (const target of rotate(targets, round)) {
    await measure(ctx, 'HEAD manifest by digest', target, round, async () => {
      await readOnce(target, path);
      const result = await runAbHead({
        url: `${target.url}${path}`,
        headers: { Authorization: target.authorization, Accept: MANIFEST_ACCEPT },
        seconds: o.load.seconds,
        concurrency: o.load.connections,
        timeoutSeconds: o.load.timeoutSeconds,
        workDir: ctx.workDir,
      });
      ctx.results.add('HEAD manifest by digest', target, {
        rps: result.requestsPerSecond,
        p50: result.p50Ms,
        p99: result.p99Ms,
        errors: result.errors,
      });
      return `${formatNumber(result.requestsPerSecond)} req/s, p50 ${formatNumber(result.p50Ms)} ms, p99 ${formatNumber(result.p99Ms)} ms, ${result.errors} errors`;
    });
  }
}
