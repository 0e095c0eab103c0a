/**
 * One round of each workload against every target, in an order rotated by the round number, so
 * that slow drift (page cache, thermal, background writeback) falls on all targets alike. A
 * measurement that fails is recorded and the round goes on.
 */
import { join } from 'node:path';
import { measurePeakMemory } from './memory.js';
import {
  PULL_REPO,
  PUSH_REPO,
  pullBlob,
  pushBlobFile,
  reclaimBlobs,
  setPageCache,
  storedBlobPath,
  timeTransfers,
  type BlobFile,
} from './blobs.js';
import { cpuSecondsOfTree } from './cpu.js';
import { MANIFEST_ACCEPT, statusOf } from './registry-api.js';
import { skopeoRoundTrip } from './skopeo-copy.js';
import { runAbHead } from './ab.js';
import { runWrk, type LoadSummary } from './wrk.js';
import { formatMiB, formatNumber } from './table.js';
import { BENCH_REPO_SMALL, BENCH_TAG, type Fleet, type Target } from './targets.js';
import type { BenchOptions } from './options.js';
import type { Results, Workload } from './results.js';

export interface BenchContext {
  options: BenchOptions;
  fleet: Fleet;
  results: Results;
  workDir: string;
  wrkScript: string;
  authHeaderFile: string;
  /** One file per stream, pushed in push workloads. */
  pushFiles: BlobFile[];
  /** Already stored in every transfer target's registry, pulled in pull workloads. */
  pullFile: BlobFile;
  log: (line: string) => void;
}

export function rotate<T>(items: T[], round: number): T[] {
  if (items.length === 0) return items;
  const k = round % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

function defined<T>(items: Array<T | undefined>): T[] {
  return items.filter((item): item is T => item !== undefined);
}

/** Only the targets `--targets` names. */
function wanted(ctx: Pick<BenchContext, 'options'>, targets: Array<Target | undefined>): Target[] {
  return defined(targets).filter((target) => ctx.options.targets.has(target.kind));
}

/** The targets of blob transfers: all at the transfer cost, and the Node ceilings. */
export function transferTargets(ctx: Pick<BenchContext, 'options' | 'fleet'>): Target[] {
  const { fleet } = ctx;
  const cost = ctx.options.transferCost;
  return wanted(ctx, [
    fleet.registry,
    fleet.nginx.get(cost),
    fleet.gate.get(cost),
    fleet.gateBuiltin.get(cost),
    fleet.gateCached.get(cost),
    fleet.distributionTls,
    fleet.nodeProxy,
    fleet.nodeFile,
  ]);
}

/** The targets of the skopeo round trip: registries only (the ceilings serve blobs, not images). */
function skopeoTargets(ctx: Pick<BenchContext, 'options' | 'fleet'>): Target[] {
  return transferTargets(ctx).filter((target) => !target.kind.startsWith('node-'));
}

export async function measure(
  ctx: BenchContext,
  workload: string,
  target: Target,
  round: number,
  run: () => Promise<string>,
): Promise<void> {
  try {
    const summary = await run();
    ctx.log(`  ${workload.padEnd(14)} ${target.label.padEnd(22)} ${summary}`);
  } catch (err) {
    ctx.results.fail(workload, target, round, err);
    ctx.log(`  ${workload.padEnd(14)} ${target.label.padEnd(22)} FAILED: ${(err as Error).message.split('\n')[0]}`);
  }
}

/** GET runs with wrk; HEAD with ab, because wrk cannot do HEAD (bench/wrk.ts). */
const SMALL: Array<{ workload: Workload; method: 'GET' | 'HEAD'; path: string; headers: Record<string, string> }> = [
  { workload: 'GET /v2/', method: 'GET', path: '/v2/', headers: {} },
  {
    workload: 'HEAD manifest',
    method: 'HEAD',
    path: `/v2/${BENCH_REPO_SMALL}/manifests/${BENCH_TAG}`,
    headers: { Accept: MANIFEST_ACCEPT },
  },
];

function runLoad(ctx: BenchContext, target: Target, small: (typeof SMALL)[number]): Promise<LoadSummary> {
  const o = ctx.options.load;
  const url = `${target.url}${small.path}`;
  const headers = { Authorization: target.authorization, ...small.headers };
  if (small.method === 'HEAD') {
    return runAbHead({
      url,
      headers,
      seconds: o.seconds,
      concurrency: o.connections,
      timeoutSeconds: o.timeoutSeconds,
      workDir: ctx.workDir,
    });
  }
  return runWrk({
    url,
    method: small.method,
    headers,
    seconds: o.seconds,
    threads: o.threads,
    connections: o.connections,
    timeoutSeconds: o.timeoutSeconds,
    script: ctx.wrkScript,
  });
}

export async function smallRequestsRound(ctx: BenchContext, round: number): Promise<void> {
  const { fleet, options: o } = ctx;
  const targets = wanted(ctx, [
    fleet.registry,
    ...o.costs.flatMap((c) => [fleet.nginx.get(c), fleet.gate.get(c), fleet.gateBuiltin.get(c), fleet.gateBearer.get(c)]),
  ]);
  for (const small of SMALL) {
    if (!o.only.has(small.method === 'GET' ? 'get' : 'head')) continue;
    for (const target of rotate(targets, round)) {
      await measure(ctx, small.workload, target, round, async () => {
        const status = await statusOf(target, small.method, small.path, small.headers);
        if (status !== 200) throw new Error(`${small.method} ${small.path} answered ${status} before the run`);
        const result = await runLoad(ctx, target, small);
        ctx.results.add(small.workload, target, {
          rps: result.requestsPerSecond,
          p50: result.p50Ms,
          p99: result.p99Ms,
          errors: result.errors,
        });
        return `${formatNumber(result.requestsPerSecond)} req/s, p50 ${formatNumber(result.p50Ms)} ms, p99 ${formatNumber(result.p99Ms)} ms, ${result.errors} errors`;
      });
    }
  }
}

/** Runs `transfer` and measures the target's MB/s and the CPU seconds its processes spent per GB. */
export async function timeWithCpu(
  target: Target,
  bytes: number,
  transfers: Array<() => Promise<void>>,
): Promise<{ mbps: number; cpuPerGB: number | undefined }> {
  const before = target.pid ? await cpuSecondsOfTree(target.pid) : undefined;
  const mbps = await timeTransfers(bytes, transfers);
  const cpuPerGB = before === undefined ? undefined : ((await cpuSecondsOfTree(target.pid)) - before) / (bytes / 1e9);
  return { mbps, cpuPerGB };
}

export async function transfersRound(ctx: BenchContext, round: number): Promise<void> {
  const { options: o } = ctx;
  const targets = rotate(transferTargets(ctx), round);
  const timeout = o.transferTimeoutMs;
  const rate = (mbps: number, cpuPerGB: number | undefined) => `${formatNumber(mbps)} MB/s, server CPU ${formatNumber(cpuPerGB)} s/GB`;

  for (const [workload, n] of o.only.has('pull')
    ? ([
        ['pull 1', 1],
        ['pull N', o.streams],
      ] as const)
    : []) {
    for (const target of targets) {
      await measure(ctx, workload, target, round, async () => {
        await setPageCache(storedBlobPath(target.storage, ctx.pullFile.digest), o.cache);
        const pulls = Array.from({ length: n }, () => () => pullBlob(target, PULL_REPO, ctx.pullFile, ctx.authHeaderFile, timeout));
        const { mbps, cpuPerGB } = await timeWithCpu(target, n * ctx.pullFile.size, pulls);
        ctx.results.add(workload, target, { mbps, cpuPerGB: cpuPerGB ?? Number.NaN });
        return rate(mbps, cpuPerGB);
      });
    }
  }

  for (const [workload, n] of o.only.has('push')
    ? ([
        ['push 1', 1],
        ['push N', o.streams],
      ] as const)
    : []) {
    const files = ctx.pushFiles.slice(0, n);
    const bytes = files.reduce((sum, f) => sum + f.size, 0);
    // A push through the cache is the plain gateway's: the cache changes only what pulls read.
    for (const target of targets.filter((candidate) => candidate.kind !== 'gate-cached')) {
      await measure(ctx, workload, target, round, async () => {
        const push = () =>
          timeWithCpu(
            target,
            bytes,
            files.map((file) => () => pushBlobFile(target, PUSH_REPO, file, ctx.authHeaderFile, timeout)),
          );
        try {
          if (n === 1 || target.pid === 0) {
            const { mbps, cpuPerGB } = await push();
            ctx.results.add(workload, target, { mbps, cpuPerGB: cpuPerGB ?? Number.NaN });
            return rate(mbps, cpuPerGB);
          }
          const { result, memory } = await measurePeakMemory(target.pid, push);
          ctx.results.add(workload, target, {
            mbps: result.mbps,
            cpuPerGB: result.cpuPerGB ?? Number.NaN,
            rssBytes: memory.peakBytes,
            pssBytes: memory.peakPssBytes,
          });
          ctx.results.memoryNotes.set(target.label, `${memory.method}, ${memory.processes} process${memory.processes > 1 ? 'es' : ''}`);
          return `${rate(result.mbps, result.cpuPerGB)}, peak RSS ${formatMiB(memory.peakBytes)} (PSS ${formatMiB(memory.peakPssBytes)}), ${memory.processes} process(es)`;
        } finally {
          await reclaimBlobs(
            target.storage,
            [PUSH_REPO],
            files.map((f) => f.digest),
          );
        }
      });
    }
  }
}

export async function skopeoRound(ctx: BenchContext, round: number): Promise<void> {
  const { options: o } = ctx;
  for (const target of rotate(skopeoTargets(ctx), round)) {
    await measure(ctx, 'skopeo', target, round, async () => {
      const times = await skopeoRoundTrip({
        target,
        password: ctx.fleet.password,
        workDir: join(ctx.workDir, 'skopeo'),
        layers: o.skopeoLayers,
        tag: `r${round}-${target.kind}`,
        timeoutMs: o.transferTimeoutMs,
      });
      ctx.results.add('skopeo', target, { in: times.inSeconds, out: times.outSeconds });
      return `in ${formatNumber(times.inSeconds)} s, out ${formatNumber(times.outSeconds)} s`;
    });
  }
}

/** Store the pull blob in every registry storage the transfer targets read from, and in the content cache. */
export async function seedPullBlob(ctx: Omit<BenchContext, 'results'>): Promise<void> {
  const seen = new Set<string>();
  // The bare registry first: a proxy in front of it needs no upload before its pulls.
  for (const target of [ctx.fleet.registry, ...transferTargets(ctx)]) {
    const key = target.storage.layout === 'distribution' ? target.storage.dataDir : target.storage.root;
    if (seen.has(key)) continue;
    seen.add(key);
    try {
      // The cache fills from the registry behind (seeded first): one pull through it makes it warm.
      if (target.kind === 'gate-cached') await pullBlob(target, PULL_REPO, ctx.pullFile, ctx.authHeaderFile, ctx.options.transferTimeoutMs);
      else await pushBlobFile(target, PULL_REPO, ctx.pullFile, ctx.authHeaderFile, ctx.options.transferTimeoutMs);
    } catch (err) {
      // Its pull workloads will fail and be reported; the other targets still run.
      ctx.log(`could not store the pull blob through ${target.label}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
}
