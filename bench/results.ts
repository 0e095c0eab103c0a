/**
 * What the rounds measured: for each (workload, target kind, cost) the value of each metric in
 * every round, and every measurement that failed. The report shows the median over rounds (the
 * maximum for peak memory).
 */
import type { Target, TargetKind } from './targets.js';

export type Workload =
  | 'GET /v2/'
  | 'HEAD manifest'
  | 'HEAD manifest by digest'
  | 'pull 1'
  | 'pull N'
  | 'pull cold 1'
  | 'pull cold N'
  | 'push 1'
  | 'push N'
  | 'skopeo';

export interface TargetRef {
  kind: TargetKind;
  cost: number | undefined;
}

export interface Failure {
  workload: string;
  target: string;
  round: number;
  error: string;
}

function keyOf(workload: Workload, target: TargetRef): string {
  return `${workload}|${target.kind}|${target.cost ?? '-'}`;
}

export function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

export class Results {
  private readonly samples = new Map<string, Map<string, number[]>>();
  readonly failures: Failure[] = [];
  /** How peak memory was read, per target label (VmHWM or sampled VmRSS) and how many processes. */
  readonly memoryNotes = new Map<string, string>();

  add(workload: Workload, target: Target | TargetRef, metrics: Record<string, number>): void {
    const key = keyOf(workload, target);
    let byMetric = this.samples.get(key);
    if (!byMetric) this.samples.set(key, (byMetric = new Map<string, number[]>()));
    for (const [metric, value] of Object.entries(metrics)) {
      if (!Number.isFinite(value)) continue; // not known this round (e.g. a percentile of too few requests)
      const list = byMetric.get(metric) ?? [];
      list.push(value);
      byMetric.set(metric, list);
    }
  }

  fail(workload: string, target: Target, round: number, error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    this.failures.push({ workload, target: target.label, round, error: message.split('\n').slice(0, 6).join('\n') });
  }

  values(workload: Workload, target: TargetRef, metric: string): number[] {
    return this.samples.get(keyOf(workload, target))?.get(metric) ?? [];
  }

  median(workload: Workload, target: TargetRef, metric: string): number | undefined {
    return median(this.values(workload, target, metric));
  }

  max(workload: Workload, target: TargetRef, metric: string): number | undefined {
    const values = this.values(workload, target, metric);
    return values.length === 0 ? undefined : Math.max(...values);
  }
}
