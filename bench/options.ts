/** The two sizes of a benchmark run (full and `--quick`) and the command-line flags. */
import { parseArgs } from 'node:util';

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
  /** Which workload groups run (default all). */
  only: Set<WorkloadGroup>;
  out: string;
  keepTemp: boolean;
}

export const WORKLOAD_GROUPS = ['small', 'transfers', 'skopeo', 'replicas'] as const;
/** The groups measured on the targets of bench/targets.ts (`replicas` starts its own, bench/replicas.ts). */
export const TARGET_GROUPS: readonly WorkloadGroup[] = ['small', 'transfers', 'skopeo'];
export type WorkloadGroup = (typeof WORKLOAD_GROUPS)[number];

const MiB = 1024 * 1024;

export const USAGE = `usage: npm run bench -- [--quick] [--rounds N] [--only LIST] [--out FILE] [--keep-temp]

  --quick       short run (< 2 min): 64 MiB blobs, 2 s wrk/ab runs, bcrypt costs 5 and 10, one round
  --rounds N    round-robin rounds (default 3, quick 1); the table shows the median of the rounds
  --out FILE    where to write the Markdown report (default docs/benchmarks.md)
  --only LIST   run only these workload groups, comma-separated: small, transfers, skopeo, replicas
  --keep-temp   keep the temp dir (configs, logs, storage) for inspection
`;

export function parseBenchOptions(argv: string[]): BenchOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      out: { type: 'string', default: 'docs/benchmarks.md' },
      only: { type: 'string', default: WORKLOAD_GROUPS.join(',') },
      'keep-temp': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const quick = values.quick;
  const rounds = values.rounds === undefined ? (quick ? 1 : 3) : Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) throw new Error(`--rounds must be an integer from 1 to 20, got ${values.rounds}`);
  const only = new Set<WorkloadGroup>();
  for (const name of values.only.split(',').map((n) => n.trim()).filter(Boolean)) {
    if (!(WORKLOAD_GROUPS as readonly string[]).includes(name)) throw new Error(`--only: unknown workload group ${name} (use ${WORKLOAD_GROUPS.join(', ')})`);
    only.add(name as WorkloadGroup);
  }
  return {
    quick,
    rounds,
    costs: quick ? [5, 10] : [5, 10, 12],
    transferCost: 5,
    load: { seconds: quick ? 2 : 10, threads: 2, connections: 16, timeoutSeconds: 30 },
    blobBytes: quick ? 64 * MiB : 1024 * MiB,
    streams: 8,
    skopeoLayers: quick ? [8 * MiB, 8 * MiB, 8 * MiB, 8 * MiB] : Array.from({ length: 6 }, () => 64 * MiB),
    transferTimeoutMs: quick ? 60_000 : 600_000,
    only,
    out: values.out,
    keepTemp: values['keep-temp'],
  };
}
