/** The two sizes of a benchmark run (full and `--quick`) and the command-line flags. */
import { parseArgs } from 'node:util';
import { required } from './required.js';

export interface BenchOptions {
  quick: boolean;
  /** Round-robin rounds: each round runs every workload against every target, in a rotated order. */
  rounds: number;
  /** bcrypt costs of the htpasswd files; one nginx and one registry-gate per cost. */
  costs: number[];
  /** The cost of the instances used for blob, memory and skopeo workloads (the recipe's `htpasswd -B`). */
  transferCost: number;
  load: { seconds: number; threads: number; connections: number; timeoutSeconds: number };
  blobBytes: number;
  /** Concurrent streams of the parallel blob workloads (and of the memory measurement). */
  streams: number;
  /** Layer sizes of the image copied with skopeo. */
  skopeoLayers: number[];
  /** Any single transfer or copy is killed after this long. */
  transferTimeoutMs: number;
  /** Which workloads run (default all). */
  only: Set<WorkloadName>;
  /** Which targets are measured (default all); the registry behind a proxy target always starts. */
  targets: Set<TargetKind>;
  /** Page cache before each pull: `warm` reads the stored blob once first, `cold` evicts it. */
  cache: 'warm' | 'cold';
  /** Write a V8 CPU profile of every registry-gate and Node ceiling process into this folder. */
  profileDir: string | undefined;
  out: string;
  keepTemp: boolean;
}

export const WORKLOADS = [
  'get',
  'head',
  'pull',
  'push',
  'skopeo',
  'replicas',
  'ldap',
  'pat',
  'federation',
  'signatures',
  'webhooks',
] as const;
export type WorkloadName = (typeof WORKLOADS)[number];
/** The workloads measured on the targets of bench/targets.ts (`replicas` starts its own, bench/replicas.ts). */
export const TARGET_WORKLOADS: readonly WorkloadName[] = ['get', 'head', 'pull', 'push', 'skopeo'];
/** What runs without `--only`: every workload but `ldap`, which needs slapd. */
export const DEFAULT_WORKLOADS: readonly WorkloadName[] = WORKLOADS.filter((workload) => workload !== 'ldap');
/** Names that stand for several workloads. */
const WORKLOAD_GROUPS: Record<string, WorkloadName[]> = { small: ['get', 'head'], transfers: ['pull', 'push'] };

export const TARGET_KINDS = [
  'registry',
  'nginx',
  'gate',
  'gate-builtin',
  'gate-cached',
  'gate-bearer',
  'distribution-tls',
  'node-file',
  'node-proxy',
] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];

const MiB = 1024 * 1024;

export const USAGE = `usage: npm run bench -- [--quick] [--rounds N] [--only LIST] [--targets LIST] [--blob-size SIZE]
                          [--cache warm|cold] [--profile DIR] [--out FILE] [--keep-temp]

  --quick          short run (< 3 min): 64 MiB blobs, 2 s wrk/ab runs, bcrypt costs 5 and 10, one round
  --rounds N       round-robin rounds (default 3, quick 1); the table shows the median of the rounds
  --only LIST      run only these workloads, comma-separated: get, head, pull, push, skopeo, replicas, ldap, pat, federation, signatures, webhooks
                   (small = get,head; transfers = pull,push; default: all but ldap, which needs slapd)
  --targets LIST   measure only these targets, comma-separated: ${TARGET_KINDS.join(', ')}
  --blob-size SIZE blob size of the transfers, e.g. 256MiB or 1GiB (default 1 GiB, quick 64 MiB)
  --cache MODE     before each pull the stored blob is read once (warm, the default: served from the
                   page cache, as a registry serves its hot layers) or evicted from it (cold)
  --profile DIR    start registry-gate and the Node ceilings with --cpu-prof, profiles into DIR
                   (summarize with: node dist/bench/profile-summary.js DIR/*.cpuprofile)
  --out FILE       where to write the Markdown report (default docs/benchmarks.md)
  --keep-temp      keep the temp dir (configs, logs, storage) for inspection
`;

const SIZE = /^(\d+)(KiB|MiB|GiB)$/;
const UNIT: Record<string, number> = { KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

function parseList<T extends string>(flag: string, text: string, known: readonly T[], groups: Record<string, T[]> = {}): Set<T> {
  const chosen = new Set<T>();
  for (const name of text
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean)) {
    if (name in groups) for (const member of required(groups[name], `the group ${name}`)) chosen.add(member);
    else if ((known as readonly string[]).includes(name)) chosen.add(name as T);
    else throw new Error(`${flag}: unknown name ${name} (use ${[...known, ...Object.keys(groups)].join(', ')})`);
  }
  if (chosen.size === 0) throw new Error(`${flag}: name at least one`);
  return chosen;
}

export function parseBenchOptions(argv: string[]): BenchOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      out: { type: 'string', default: 'docs/benchmarks.md' },
      only: { type: 'string', default: DEFAULT_WORKLOADS.join(',') },
      targets: { type: 'string', default: TARGET_KINDS.join(',') },
      'blob-size': { type: 'string' },
      cache: { type: 'string', default: 'warm' },
      profile: { type: 'string' },
      'keep-temp': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const quick = values.quick;
  const rounds = values.rounds === undefined ? (quick ? 1 : 3) : Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20)
    throw new Error(`--rounds must be an integer from 1 to 20, got ${values.rounds}`);
  const only = parseList('--only', values.only, WORKLOADS, WORKLOAD_GROUPS);
  const targets = parseList('--targets', values.targets, TARGET_KINDS);
  let blobBytes = quick ? 64 * MiB : 1024 * MiB;
  if (values['blob-size'] !== undefined) {
    const match = SIZE.exec(values['blob-size']);
    if (!match) throw new Error(`--blob-size must look like 256MiB or 1GiB, got ${values['blob-size']}`);
    blobBytes = Number(match[1]) * required(UNIT[required(match[2], 'the unit')], 'the unit');
  }
  if (values.cache !== 'warm' && values.cache !== 'cold') throw new Error(`--cache must be warm or cold, got ${values.cache}`);
  return {
    quick,
    rounds,
    costs: quick ? [5, 10] : [5, 10, 12],
    transferCost: 5,
    load: { seconds: quick ? 2 : 10, threads: 2, connections: 16, timeoutSeconds: 30 },
    blobBytes,
    streams: 8,
    skopeoLayers: quick ? [8 * MiB, 8 * MiB, 8 * MiB, 8 * MiB] : Array.from({ length: 6 }, () => 64 * MiB),
    transferTimeoutMs: quick ? 60_000 : 600_000,
    only,
    targets,
    cache: values.cache,
    profileDir: values.profile,
    out: values.out,
    keepTemp: values['keep-temp'],
  };
}
