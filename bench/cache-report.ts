/**
 * The content cache's part of the report (issue 24's "Performance goals"): its goals as ratios
 * from this one run, then the cold pulls and the HEAD by digest that bench/cache-workloads.ts
 * measured. The warm pulls are the `gate-cached` rows of the transfers table.
 */
import type { BenchOptions } from './options.js';
import type { Results, TargetRef } from './results.js';
import type { TargetKind } from './targets.js';
import {
  atMost,
  formatMiB,
  formatNumber,
  formatRatio,
  formatSize,
  markdownTable,
  MISSING,
  ratioGoal,
  speedup,
  type Goal,
} from './table.js';

const RSS_LIMIT = 256 * 1024 * 1024;
/** "1 × the blob": what the upstream sends besides the body (headers) is far below 1 % of any bench blob. */
const UPSTREAM_LIMIT = 1.01;

type Pull = 'pull 1' | 'pull N';

function at(kind: TargetKind, o: BenchOptions): TargetRef {
  return { kind, cost: kind === 'registry' ? undefined : o.transferCost };
}

function streams(workload: Pull, o: BenchOptions): string {
  return workload === 'pull 1' ? '1 stream' : `${o.streams} streams`;
}

const coldOf = (workload: Pull) => (workload === 'pull 1' ? 'pull cold 1' : 'pull cold N');

export function cacheGoalsIntro(o: BenchOptions): string {
  return (
    `Warm: \`gate-cached\` with the blob in its cache (the transfers table's rows). Cold: its cache emptied with \`registry-gate cache purge\` before each run, so every byte comes from the upstream once. ` +
    `Bytes from the upstream are measured at the upstream (what Distribution's process wrote, /proc/PID/io \`wchar\`), as a multiple of the ${formatSize(o.blobBytes)} blob.`
  );
}

export function cacheGoals(r: Results, o: BenchOptions): Goal[] {
  const mbps = (workload: Parameters<Results['median']>[0], kind: TargetKind) => r.median(workload, at(kind, o), 'mbps');
  const list: Goal[] = [];
  for (const workload of ['pull 1', 'pull N'] as const) {
    for (const [other, goal] of [
      ['nginx', 1.3],
      ['gate-builtin', 0.95],
      ['gate', 1],
    ] as const) {
      const ratio = speedup(mbps(workload, 'gate-cached'), mbps(workload, other));
      list.push(ratioGoal(`blob pull, ${streams(workload, o)}, warm cache: gate-cached ÷ ${other}`, ratio, goal));
    }
    const cold = speedup(mbps(coldOf(workload), 'gate-cached'), mbps(workload, 'gate'));
    list.push(ratioGoal(`blob pull, ${streams(workload, o)}, cold cache: gate-cached ÷ gate (no cache)`, cold, 0.9));
  }
  const head = speedup(
    r.median('HEAD manifest by digest', at('gate-cached', o), 'rps'),
    r.median('HEAD manifest by digest', at('registry', o), 'rps'),
  );
  list.push(ratioGoal('HEAD manifest by digest req/s, warm cache: gate-cached ÷ registry (Distribution alone)', head, 1));
  const upstream = r.max('pull cold N', at('gate-cached', o), 'upstreamTimes');
  list.push({
    what: `${o.streams} concurrent cold pulls of one blob: bytes from the upstream`,
    measured: upstream === undefined ? MISSING : `${upstream.toFixed(3)} × the blob`,
    required: '1 × the blob',
    verdict: atMost(upstream, UPSTREAM_LIMIT),
  });
  const rss = r.max('pull cold N', at('gate-cached', o), 'rssBytes');
  const pulls = `${o.streams} × ${formatSize(o.blobBytes)} cold pulls${o.blobBytes < 1024 ** 3 ? ' (not the 1 GiB of the goal)' : ''}`;
  list.push({
    what: `peak RSS of gate-cached during ${pulls}`,
    measured: formatMiB(rss),
    required: '≤ 256 MiB',
    verdict: atMost(rss, RSS_LIMIT),
  });
  return list;
}

export function cacheSection(r: Results, o: BenchOptions): string {
  const cached = at('gate-cached', o);
  const coldRows = (['pull 1', 'pull N'] as const).map((workload) => {
    const cold = coldOf(workload);
    const mbps = r.median(cold, cached, 'mbps');
    return [
      workload === 'pull 1' ? '1' : String(o.streams),
      formatNumber(mbps),
      formatNumber(r.median(cold, cached, 'cpuPerGB')),
      formatRatio(speedup(mbps, r.median(workload, at('gate', o), 'mbps'))),
      formatRatio(speedup(mbps, r.median(workload, at('nginx', o), 'mbps'))),
      formatRatio(r.max(cold, cached, 'upstreamTimes')),
      formatMiB(r.max(cold, cached, 'rssBytes')),
    ];
  });
  const bare = r.median('HEAD manifest by digest', at('registry', o), 'rps');
  const headRows = (['registry', 'gate', 'gate-cached'] as const).map((kind) => {
    const rps = r.median('HEAD manifest by digest', at(kind, o), 'rps');
    return [
      kind,
      formatNumber(rps),
      formatNumber(r.median('HEAD manifest by digest', at(kind, o), 'p50')),
      formatNumber(r.median('HEAD manifest by digest', at(kind, o), 'p99')),
      formatNumber(r.median('HEAD manifest by digest', at(kind, o), 'errors')),
      kind === 'registry' ? MISSING : formatRatio(speedup(rps, bare)),
    ];
  });
  return [
    `## The content cache: cold pulls of ${formatSize(o.blobBytes)} and HEAD by digest`,
    '',
    `Cold: \`gate-cached\` pulls the blob with its cache emptied just before (\`registry-gate cache purge --digest\`, the server running), so it fetches from \`registry\` and stores while it answers; with ${o.streams} streams one fetch serves all. MB/s, CPU s/GB and peak RSS as in the tables above; × gate and × nginx against their pulls of the same blob; upstream × blob: bytes \`registry\` wrote (/proc/PID/io \`wchar\`) over the blob size.`,
    '',
    markdownTable(['streams', 'MB/s', 'CPU s/GB', '× gate', '× nginx', 'upstream × blob', 'peak RSS'], coldRows, [
      'right',
      'right',
      'right',
      'right',
      'right',
      'right',
      'right',
    ]),
    '',
    `HEAD of \`bench/small\`'s manifest by its digest, with ab as the HEAD by tag row (bcrypt cost ${o.transferCost}; \`gate-cached\` read it once before, so it answers from its cache).`,
    '',
    markdownTable(['target', 'req/s', 'p50 ms', 'p99 ms', 'errors', '× registry'], headRows, [
      'left',
      'right',
      'right',
      'right',
      'right',
      'right',
    ]),
  ].join('\n');
}
