/**
 * The Markdown report (docs/benchmarks.md): the machine, the goals of issues 14 and 4 with met /
 * NOT met, then one table per workload with ratios to the recipe (nginx at the same bcrypt cost),
 * to the bare registry and to the runtime's ceilings (node-proxy, node-file), and last the
 * hand-written findings of bench/findings.md. Ratios are speed-ups: above 1× means faster than
 * the reference.
 */
import { readFileSync } from 'node:fs';
import { DEFAULT_WORKLOADS, TARGET_KINDS, TARGET_WORKLOADS, type BenchOptions } from './options.js';
import { replicasSection, type ReplicaResults } from './replicas.js';
import { ldapSection, type LdapResults } from './ldap.js';
import { tokenSection, type TokenResults } from './personal-tokens.js';
import { federationSection, type FederationResults } from './federation.js';
import { signatureSection, type SignatureResults } from './signatures.js';
import { webhookSection, type WebhookResults } from './webhooks.js';
import type { Results, TargetRef, Workload } from './results.js';
import type { TargetKind } from './targets.js';
import {
  atLeast,
  atMost,
  formatMiB,
  formatNumber,
  formatRatio,
  formatSize,
  markdownTable,
  MISSING,
  speedup,
  timeSpeedup,
  ratioGoal,
  type Goal,
} from './table.js';
import { required } from './required.js';
import { cacheGoals, cacheGoalsIntro, cacheSection } from './cache-report.js';

export interface Machine {
  date: string;
  node: string;
  cpu: string;
  cores: number;
  memory: string;
  kernel: string;
  /** 1-minute load average when the run started. */
  loadAverage: number;
  tools: Record<string, string>;
}

export interface ReportInput {
  options: BenchOptions;
  machine: Machine;
  results: Results;
  /** Issue 16's measurements, when the `replicas` workload ran. */
  replicas?: ReplicaResults | undefined;
  /** LDAP logins, when the `ldap` workload ran. */
  ldap?: LdapResults | undefined;
  /** Personal tokens next to cached passwords, when the `pat` workload ran. */
  tokens?: TokenResults | undefined;
  /** Cached federated tokens next to cached passwords, when the `federation` workload ran. */
  federation?: FederationResults | undefined;
  /** A warm HEAD of a signed image under a policy next to one no policy covers, when the `signatures` workload ran. */
  signatures?: SignatureResults | undefined;
  /** Push throughput with two webhooks next to none, when the `webhooks` workload ran. */
  webhooks?: WebhookResults | undefined;
  startFailures: Array<{ label: string; error: string }>;
  elapsedSeconds: number;
  /** 1-minute load average when the run ended. */
  loadAverageAfter: number;
}

const ref = (kind: TargetKind, cost?: number): TargetRef => ({ kind, cost });
const MEMORY_LIMIT = 256 * 1024 * 1024;

type Transfer = 'pull 1' | 'pull N' | 'push 1' | 'push N';
const TRANSFERS: Transfer[] = ['pull 1', 'pull N', 'push 1', 'push N'];

/** The Node ceiling each registry-gate target is held against: the same work, in bare Node. */
const CEILING: Partial<Record<TargetKind, TargetKind>> = { gate: 'node-proxy', 'gate-builtin': 'node-file' };

/** Issue 14: pulls at line rate. */
function goals14(input: ReportInput): Goal[] {
  const { results: r, options: o } = input;
  const t = o.transferCost;
  const mbps = (workload: Transfer, kind: TargetKind) => r.median(workload, ref(kind, transferCost(kind, o)), 'mbps');
  const list: Goal[] = [];
  for (const workload of ['pull 1', 'pull N'] as const) {
    list.push(
      ratioGoal(`blob ${describeTransfer(workload, o)}: gate ÷ nginx`, speedup(mbps(workload, 'gate'), mbps(workload, 'nginx')), 1),
    );
  }
  for (const workload of TRANSFERS) {
    list.push(
      ratioGoal(
        `blob ${describeTransfer(workload, o)}: gate-builtin ÷ distribution-tls`,
        speedup(mbps(workload, 'gate-builtin'), mbps(workload, 'distribution-tls')),
        1,
      ),
    );
  }
  for (const kind of ['gate', 'gate-builtin'] as const) {
    const ceiling = required(CEILING[kind], `the ceiling of ${kind}`);
    for (const workload of TRANSFERS) {
      list.push(
        ratioGoal(
          `blob ${describeTransfer(workload, o)}: ${kind} ÷ ${ceiling} (Node ceiling)`,
          speedup(mbps(workload, kind), mbps(workload, ceiling)),
          0.95,
        ),
      );
    }
  }
  const head = speedup(r.median('HEAD manifest', ref('gate', 10), 'rps'), r.median('HEAD manifest', ref('registry'), 'rps'));
  list.push(ratioGoal('HEAD manifest req/s, bcrypt cost 10: gate ÷ registry (Distribution alone)', head, 0.9));
  const uploads = `${o.streams} × ${formatSize(o.blobBytes)} uploads${o.blobBytes < 1024 ** 3 ? ' (not the 1 GiB of the goal)' : ''}`;
  for (const kind of ['gate', 'gate-builtin'] as const) {
    const peak = r.max('push N', ref(kind, t), 'rssBytes');
    list.push({
      what: `peak RSS of ${kind} during ${uploads}`,
      measured: formatMiB(peak),
      required: '≤ 256 MiB',
      verdict: atMost(peak, MEMORY_LIMIT),
    });
  }
  return list;
}

/** Issue 4's goals that issue 14 does not restate. */
function goals4(input: ReportInput): Goal[] {
  const { results: r, options: o } = input;
  const t = o.transferCost;
  const list: Goal[] = [];
  for (const [cost, required] of [
    [10, 50],
    [5, 3],
  ] as const) {
    const ratio = speedup(r.median('HEAD manifest', ref('gate', cost), 'rps'), r.median('HEAD manifest', ref('nginx', cost), 'rps'));
    list.push(ratioGoal(`HEAD manifest req/s, bcrypt cost ${cost}: gate ÷ nginx`, ratio, required));
  }
  for (const workload of ['push 1', 'push N'] as const) {
    const ratio = speedup(r.median(workload, ref('gate', t), 'mbps'), r.median(workload, ref('nginx', t), 'mbps'));
    list.push(ratioGoal(`blob ${describeTransfer(workload, o)}: gate ÷ nginx`, ratio, 1));
  }
  return list;
}

function describeTransfer(workload: Transfer, o: BenchOptions): string {
  const [direction, n] = workload.split(' ');
  return `${direction}, ${n === '1' ? '1 stream' : `${o.streams} streams`}`;
}

function header(input: ReportInput): string {
  const { machine: m, options: o } = input;
  const tools = Object.entries(m.tools)
    .map(([name, version]) => `${name} ${version}`)
    .join(', ');
  return [
    '# Benchmarks',
    '',
    `Generated by \`npm run bench${o.quick ? ' -- --quick' : ''}\` (${o.quick ? 'quick run: indicative only' : 'full run'}) on ${m.date}, in ${Math.round(input.elapsedSeconds)} s.`,
    'See [bench/README.md](../bench/README.md) for what each workload does and how the targets are set up.',
    '',
    `- Machine: ${m.cpu}, ${m.cores} cores, ${m.memory} RAM, Linux ${m.kernel}. Clients (wrk, ab, curl, skopeo) run on the same cores as the servers. Load average (1 min) ${m.loadAverage.toFixed(2)} at the start, ${input.loadAverageAfter.toFixed(2)} at the end: anything else running on the machine shows in the numbers.`,
    `- Software: Node ${m.node}, ${tools}.`,
    `- Parameters: ${o.rounds} round${o.rounds > 1 ? 's (median shown)' : ''}; small requests for ${o.load.seconds} s each with ${o.load.connections} connections (wrk: ${o.load.threads} threads; ab: 1); blobs of ${formatSize(o.blobBytes)}, 1 and ${o.streams} streams, pulled ${o.cache === 'warm' ? 'from the page cache' : 'with the blob evicted from the page cache'}; skopeo image of ${o.skopeoLayers.length} layers × ${formatSize(o.skopeoLayers[0] ?? 0)}; bcrypt costs ${o.costs.join(', ')} (transfers use cost ${o.transferCost}, the recipe's \`htpasswd -B\` default).${selection(o)}`,
    "- Targets: `registry` = Distribution alone, plain HTTP, no auth; `nginx` = the recipe in front of it; `gate` = registry-gate in front of it; `gate-builtin` = registry-gate with its built-in registry; `distribution-tls` = Distribution doing TLS and htpasswd auth itself; `node-proxy` and `node-file` = the runtime's ceilings, a minimal Node TLS proxy in front of `registry` and a minimal Node TLS file server ([bench/ceiling-server.ts](../bench/ceiling-server.ts)).",
    "- Ratios are speed-ups (above 1× is faster than the reference): req/s and MB/s divided by the reference's, or the reference's seconds divided by the target's.",
  ].join('\n');
}

/** Says which workloads and targets a partial run left out. */
function selection(o: BenchOptions): string {
  const parts: string[] = [];
  const defaults = o.only.size === DEFAULT_WORKLOADS.length && DEFAULT_WORKLOADS.every((workload) => o.only.has(workload));
  if (!defaults) parts.push(`workloads ${[...o.only].join(', ')} only`);
  if (o.targets.size < TARGET_KINDS.length) parts.push(`targets ${[...o.targets].join(', ')} only`);
  return parts.length > 0 ? ` Partial run: ${parts.join('; ')}.` : '';
}

function goalsSection(input: ReportInput): string {
  const table = (goals: Goal[]) =>
    markdownTable(
      ['goal', 'measured', 'target', 'result'],
      goals.map((g) => [g.what, g.measured, g.required, g.verdict]),
      ['left', 'right', 'left', 'left'],
    );
  return [
    '## Goals (issue 14: pulls at line rate)',
    '',
    `MB/s ratios of blob transfers (1 and ${input.options.streams} streams); the Node ceilings are \`node-proxy\` for the gateway and \`node-file\` for the built-in registry.`,
    '',
    table(goals14(input)),
    '',
    '## Goals (issue 4, not restated above)',
    '',
    table(goals4(input)),
    '',
    '## Goals (issue 24: the content cache)',
    '',
    cacheGoalsIntro(input.options),
    '',
    table(cacheGoals(input.results, input.options)),
  ].join('\n');
}

function smallRequestsSection(input: ReportInput): string {
  const { results: r, options: o } = input;
  const rows: string[][] = [];
  for (const workload of ['GET /v2/', 'HEAD manifest'] as const) {
    const bare = r.median(workload, ref('registry'), 'rps');
    rows.push(smallRow(r, workload, ref('registry'), r.median(workload, ref('nginx', o.transferCost), 'rps'), bare));
    for (const cost of o.costs) {
      const nginx = r.median(workload, ref('nginx', cost), 'rps');
      for (const kind of ['nginx', 'gate', 'gate-builtin', 'gate-bearer'] as const) {
        if (kind === 'gate-bearer' && r.median(workload, ref(kind, cost), 'rps') === undefined) continue;
        const row = smallRow(r, workload, ref(kind, cost), kind === 'nginx' ? undefined : nginx, bare);
        if (workload === 'HEAD manifest' && kind === 'gate' && (cost === 10 || cost === 5)) {
          const required = cost === 10 ? 50 : 3;
          row[row.length - 1] = `≥ ${required}× nginx: ${atLeast(speedup(r.median(workload, ref(kind, cost), 'rps'), nginx), required)}`;
        }
        rows.push(row);
      }
    }
  }
  const headers = ['request', 'cost', 'target', 'req/s', 'p50 ms', 'p99 ms', 'errors', '× nginx', '× registry', 'target'];
  return [
    '## Small authenticated requests (wrk, ab)',
    '',
    `\`GET /v2/\` and \`HEAD /v2/bench/small/manifests/v1\` with an \`Authorization: Basic\` header on every request, over HTTPS (plain HTTP for \`registry\`). GET runs with wrk; HEAD with ApacheBench (\`ab -i -k\`), because wrk cannot do HEAD. Ratios compare req/s with nginx at the same bcrypt cost (for \`registry\`: cost ${o.transferCost}) and with the bare registry; compare rows of the same request only, since the two tools differ.`,
    '',
    markdownTable(headers, rows, ['left', 'right', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'left']),
  ].join('\n');
}

function smallRow(r: Results, workload: Workload, target: TargetRef, nginx: number | undefined, bare: number | undefined): string[] {
  const rps = r.median(workload, target, 'rps');
  const errors = r.values(workload, target, 'errors').reduce((a, b) => a + b, 0);
  return [
    workload === 'GET /v2/' ? 'GET /v2/' : 'HEAD manifest',
    target.cost === undefined ? MISSING : String(target.cost),
    target.kind,
    formatNumber(rps),
    formatNumber(r.median(workload, target, 'p50')),
    formatNumber(r.median(workload, target, 'p99')),
    rps === undefined ? MISSING : String(errors),
    target.kind === 'nginx' ? MISSING : formatRatio(speedup(rps, nginx)),
    target.kind === 'registry' ? MISSING : formatRatio(speedup(rps, bare)),
    '',
  ];
}

const TRANSFER_KINDS = ['registry', 'nginx', 'gate', 'gate-builtin', 'gate-cached', 'distribution-tls', 'node-proxy', 'node-file'] as const;

/** The bcrypt cost a transfer target's results are filed under (none for the unauthenticated ones). */
function transferCost(kind: TargetKind, o: BenchOptions): number | undefined {
  return kind === 'registry' || kind.startsWith('node-') ? undefined : o.transferCost;
}

function transfersSection(input: ReportInput): string {
  const { results: r, options: o } = input;
  const t = o.transferCost;
  const rows: string[][] = [];
  for (const workload of TRANSFERS) {
    const nginx = r.median(workload, ref('nginx', t), 'mbps');
    const bare = r.median(workload, ref('registry'), 'mbps');
    for (const kind of TRANSFER_KINDS) {
      const mbps = r.median(workload, ref(kind, transferCost(kind, o)), 'mbps');
      const ceiling = CEILING[kind];
      const [direction, n] = workload.split(' ');
      rows.push([
        direction ?? workload,
        n === '1' ? '1' : String(o.streams),
        kind,
        formatNumber(mbps),
        formatNumber(r.median(workload, ref(kind, transferCost(kind, o)), 'cpuPerGB')),
        kind === 'nginx' ? MISSING : formatRatio(speedup(mbps, nginx)),
        kind === 'registry' ? MISSING : formatRatio(speedup(mbps, bare)),
        ceiling ? formatRatio(speedup(mbps, r.median(workload, ref(ceiling), 'mbps'))) : MISSING,
      ]);
    }
  }
  return [
    `## Blob transfers of ${formatSize(o.blobBytes)} (curl)`,
    '',
    `Push: \`POST …/blobs/uploads/\`, then one \`PUT …?digest=\` streaming the file. Pull: \`GET …/blobs/<digest>\` to /dev/null, the stored blob ${o.cache === 'warm' ? 'read once just before (in the page cache)' : 'evicted from the page cache just before'}. MB/s of all streams together (10^6 bytes/s). HTTPS for every target but \`registry\`. CPU s/GB: user + system CPU seconds of the server's processes per GB moved (a proxy's without the registry behind it). × ceiling: registry-gate's MB/s over its Node ceiling's (\`node-proxy\` for \`gate\`, \`node-file\` for \`gate-builtin\`).`,
    '',
    markdownTable(['transfer', 'streams', 'target', 'MB/s', 'CPU s/GB', '× nginx', '× registry', '× ceiling'], rows, [
      'left',
      'right',
      'left',
      'right',
      'right',
      'right',
      'right',
      'right',
    ]),
  ].join('\n');
}

function memorySection(input: ReportInput): string {
  const { results: r, options: o } = input;
  const t = o.transferCost;
  const rows = TRANSFER_KINDS.map((kind) => {
    const cost = transferCost(kind, o);
    const target = ref(kind, cost);
    const peak = r.max('push N', target, 'rssBytes');
    const label = cost === undefined || kind === 'distribution-tls' ? kind : `${kind} (cost ${t})`;
    const goal = kind === 'gate' || kind === 'gate-builtin' ? `≤ 256 MiB: ${atMost(peak, MEMORY_LIMIT)}` : '';
    return [kind, formatMiB(peak), formatMiB(r.max('push N', target, 'pssBytes')), r.memoryNotes.get(label) ?? MISSING, goal];
  });
  return [
    `## Peak memory during ${o.streams} concurrent ${formatSize(o.blobBytes)} uploads`,
    '',
    "Resident set size summed over the server process and its children (VmHWM from /proc after resetting it through /proc/PID/clear_refs, cross-checked by sampling VmRSS every 50 ms); the highest over the rounds. Summed RSS counts pages shared by several processes (the executable, mapped by every worker) once per process; PSS splits them between their users (sampled every 50 ms, from /proc/PID/smaps_rollup). The goal is judged on RSS. nginx's figure does not include the registry behind it.",
    '',
    markdownTable(['target', 'peak RSS', 'peak PSS', 'how', 'target'], rows, ['left', 'right', 'right', 'left', 'left']),
  ].join('\n');
}

function skopeoSection(input: ReportInput): string {
  const { results: r, options: o } = input;
  const t = o.transferCost;
  const cost = (kind: TargetKind) => (kind === 'registry' ? undefined : t);
  const nginxIn = r.median('skopeo', ref('nginx', t), 'in');
  const nginxOut = r.median('skopeo', ref('nginx', t), 'out');
  const bareIn = r.median('skopeo', ref('registry'), 'in');
  const bareOut = r.median('skopeo', ref('registry'), 'out');
  const rows = TRANSFER_KINDS.filter((kind) => !kind.startsWith('node-')).map((kind) => {
    const inS = r.median('skopeo', ref(kind, cost(kind)), 'in');
    const outS = r.median('skopeo', ref(kind, cost(kind)), 'out');
    return [
      kind,
      formatNumber(inS),
      formatNumber(outS),
      kind === 'nginx' ? MISSING : `${formatRatio(timeSpeedup(inS, nginxIn))} / ${formatRatio(timeSpeedup(outS, nginxOut))}`,
      kind === 'registry' ? MISSING : `${formatRatio(timeSpeedup(inS, bareIn))} / ${formatRatio(timeSpeedup(outS, bareOut))}`,
    ];
  });
  const total = o.skopeoLayers.reduce((a, b) => a + b, 0);
  return [
    `## skopeo copy of a ${o.skopeoLayers.length}-layer image (${formatSize(total)})`,
    '',
    '`skopeo copy oci:… docker://…` (in) and `skopeo copy docker://… oci:…` (out), a fresh random image each time, verified TLS with the bench CA.',
    '',
    markdownTable(['target', 'in (s)', 'out (s)', 'in / out × nginx', 'in / out × registry'], rows, [
      'left',
      'right',
      'right',
      'right',
      'right',
    ]),
  ].join('\n');
}

function builtinSection(input: ReportInput): string {
  const { results: r, options: o } = input;
  const t = o.transferCost;
  const rows: string[][] = [];
  for (const workload of ['push 1', 'push N', 'pull 1', 'pull N'] as const) {
    const builtin = r.median(workload, ref('gate-builtin', t), 'mbps');
    const dist = r.median(workload, ref('distribution-tls', t), 'mbps');
    rows.push([
      `blob ${describeTransfer(workload, o)} (MB/s)`,
      formatNumber(builtin),
      formatNumber(dist),
      formatRatio(speedup(builtin, dist)),
      formatRatio(speedup(builtin, r.median(workload, ref('gate', t), 'mbps'))),
      formatRatio(speedup(builtin, r.median(workload, ref('registry'), 'mbps'))),
      `≥ 1×: ${atLeast(speedup(builtin, dist), 1)}`,
    ]);
  }
  for (const [metric, name] of [
    ['in', 'skopeo copy in (s)'],
    ['out', 'skopeo copy out (s)'],
  ] as const) {
    const builtin = r.median('skopeo', ref('gate-builtin', t), metric);
    const dist = r.median('skopeo', ref('distribution-tls', t), metric);
    rows.push([
      name,
      formatNumber(builtin),
      formatNumber(dist),
      formatRatio(timeSpeedup(builtin, dist)),
      formatRatio(timeSpeedup(builtin, r.median('skopeo', ref('gate', t), metric))),
      formatRatio(timeSpeedup(builtin, r.median('skopeo', ref('registry'), metric))),
      '',
    ]);
  }
  return [
    '## Built-in registry vs Distribution',
    '',
    'The same pushes and pulls. `distribution-tls` is Distribution 2.8 serving TLS and htpasswd auth itself (same certificate, same htpasswd file), so both sides do the same work; the last two columns compare with registry-gate in front of Distribution and with Distribution alone over plain HTTP.',
    '',
    markdownTable(
      ['workload', 'gate-builtin', 'distribution-tls', '× Distribution', '× gate → Distribution', '× registry (HTTP)', 'target'],
      rows,
      ['left', 'right', 'right', 'right', 'right', 'right', 'left'],
    ),
  ].join('\n');
}

function problemsSection(input: ReportInput): string | undefined {
  const lines: string[] = [];
  for (const f of input.startFailures) lines.push(`- ${f.label} did not start: ${oneLine(f.error)}`);
  for (const f of input.results.failures) lines.push(`- ${f.workload} on ${f.target}, round ${f.round}: ${oneLine(f.error)}`);
  if (lines.length === 0) return undefined;
  return `## Failures\n\nMeasurements that failed are missing (${MISSING}) from the tables above.\n\n${lines.join('\n')}`;
}

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 800 ? `${flat.slice(0, 800)}…` : flat;
}

/** bench/findings.md (dist/bench/ → the repo's bench/): what the profiles showed, kept by hand. */
function findingsSection(): string | undefined {
  try {
    return readFileSync(new URL('../../bench/findings.md', import.meta.url), 'utf8').trim();
  } catch {
    return undefined;
  }
}

export function renderReport(input: ReportInput): string {
  const targets = TARGET_WORKLOADS.some((workload) => input.options.only.has(workload));
  return [
    header(input),
    ...(targets
      ? [
          goalsSection(input),
          smallRequestsSection(input),
          transfersSection(input),
          memorySection(input),
          cacheSection(input.results, input.options),
          skopeoSection(input),
          builtinSection(input),
        ]
      : []),
    input.replicas && replicasSection(input.replicas, input.options),
    input.ldap && ldapSection(input.ldap),
    input.tokens && tokenSection(input.tokens),
    input.federation && federationSection(input.federation),
    input.signatures && signatureSection(input.signatures),
    input.webhooks && webhookSection(input.webhooks),
    problemsSection(input),
    findingsSection(),
  ]
    .filter((s): s is string => s !== undefined)
    .join('\n\n')
    .concat('\n');
}
