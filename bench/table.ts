/**
 * Markdown tables and the number formats of the report. Columns are padded so the file reads as
 * a table in a terminal too; numeric columns are right-aligned.
 */

export type Align = 'left' | 'right';

export function markdownTable(headers: string[], rows: string[][], align: Align[] = []): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length), 3));
  const cell = (text: string, i: number): string => (align[i] === 'right' ? text.padStart(widths[i] ?? 0) : text.padEnd(widths[i] ?? 0));
  const line = (cells: string[]): string => `| ${headers.map((_, i) => cell(cells[i] ?? '', i)).join(' | ')} |`;
  const rule = `| ${widths.map((w, i) => (align[i] === 'right' ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`;
  return [line(headers), rule, ...rows.map(line)].join('\n');
}

export const MISSING = '—';

/** 3 significant digits at most, no exponent: 12345 → "12345", 123.4 → "123", 1.234 → "1.23". */
export function formatNumber(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return MISSING;
  const abs = Math.abs(value);
  if (abs >= 100) return Math.round(value).toString();
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  return value.toFixed(3);
}

export function formatRatio(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? MISSING : `${formatNumber(value)}×`;
}

export function formatMiB(bytes: number | undefined): string {
  return bytes === undefined ? MISSING : `${formatNumber(bytes / 1024 / 1024)} MiB`;
}

export function formatSize(bytes: number): string {
  const GiB = 1024 ** 3;
  const MiB = 1024 ** 2;
  if (bytes >= GiB && bytes % GiB === 0) return `${bytes / GiB} GiB`;
  if (bytes % MiB === 0) return `${bytes / MiB} MiB`;
  return `${formatNumber(bytes / MiB)} MiB`;
}

/** Rate ratio (higher is better): value / reference. */
export function speedup(value: number | undefined, reference: number | undefined): number | undefined {
  if (value === undefined || reference === undefined || reference === 0) return undefined;
  return value / reference;
}

/** Duration ratio, as a speed-up (higher is better): reference / value. */
export function timeSpeedup(seconds: number | undefined, referenceSeconds: number | undefined): number | undefined {
  if (seconds === undefined || referenceSeconds === undefined || seconds === 0) return undefined;
  return referenceSeconds / seconds;
}

export type Verdict = 'met' | 'NOT met' | 'not measured';

export function atLeast(value: number | undefined, required: number): Verdict {
  if (value === undefined || !Number.isFinite(value)) return 'not measured';
  return value >= required ? 'met' : 'NOT met';
}

export function atMost(value: number | undefined, limit: number): Verdict {
  if (value === undefined || !Number.isFinite(value)) return 'not measured';
  return value <= limit ? 'met' : 'NOT met';
}

/** One row of a report's goals table. */
export interface Goal {
  what: string;
  measured: string;
  required: string;
  verdict: Verdict;
}

export function ratioGoal(what: string, ratio: number | undefined, required: number): Goal {
  return { what, measured: formatRatio(ratio), required: `≥ ${required}×`, verdict: atLeast(ratio, required) };
}
