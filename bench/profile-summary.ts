/**
 * Reads V8 CPU profiles (`node --cpu-prof`, what `npm run bench -- --profile DIR` writes) and says
 * where the busy time went: the functions with the most self time, the same grouped by where the
 * code lives (Node's streams, TLS socket writes, undici, registry-gate, GC…), and a folded-stack
 * file beside each profile for a flame graph (flamegraph.pl, inferno, or speedscope.app, which also
 * opens the .cpuprofile itself).
 *
 *   node dist/bench/profile-summary.js DIR/gate-builtin-cost-5/*.cpuprofile
 *
 * Time inside native code is charged to the JavaScript function that called it: encryption in
 * `writeGeneric`/`writevGeneric` (a TLS socket encrypts as it is written), hashing in `update`.
 * Work on libuv's threads (file reads and writes) is not in a V8 profile at all; `perf record -g`
 * sees it (bench/README.md).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { markdownTable } from './table.js';
import { required } from './required.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const IDLE = '(idle)';

/** Where a function's code lives, coarsely, for the grouped table. */
export function areaOf(frame: CallFrame): string {
  const { functionName: name, url } = frame;
  if (name === '(garbage collector)') return 'garbage collection';
  if (name === '(program)' || name === '(root)') return 'native, not attributed (program)';
  if (name === IDLE) return IDLE;
  if (/^(writeBuffer|writev|writeGeneric|writevGeneric)$/.test(name)) return 'socket writes (TLS encryption happens here)';
  if (url.includes('/undici/')) return 'undici';
  if (url.includes('/pino')) return 'logging (pino)';
  if (url.includes('/dist/src/')) return 'registry-gate';
  if (url.includes('/dist/bench/')) return 'bench ceiling server';
  if (url.startsWith('node:internal/streams') || url === 'node:stream') return 'node streams';
  if (url.startsWith('node:internal/fs') || url === 'node:fs') return 'node fs';
  if (url.startsWith('node:_http') || url === 'node:http' || url === 'node:https') return 'node http';
  if (url.startsWith('node:_tls') || url.startsWith('node:net') || url.includes('stream_base_commons')) return 'node net/tls';
  if (url.startsWith('node:internal/crypto')) return 'node crypto (hashing)';
  if (url.startsWith('node:')) return 'node, other';
  return url === '' ? 'native, attributed' : 'other JavaScript';
}

function label(frame: CallFrame): string {
  const where = frame.url ? `${frame.url.replace(/^.*\/(node_modules|dist)\//, '$1/')}:${frame.lineNumber + 1}` : '';
  return `${frame.functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
}

export interface Summary {
  busyMs: number;
  totalMs: number;
  functions: Array<{ name: string; area: string; ms: number }>;
  areas: Array<{ area: string; ms: number }>;
  /** `frame;frame;frame count` lines (µs), for flame graphs. */
  folded: string[];
}

export function summarize(profile: CpuProfile): Summary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));

  const functions = new Map<string, { name: string; area: string; ms: number }>();
  const areas = new Map<string, number>();
  const folded = new Map<string, number>();
  let busyUs = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const area = areaOf(node.callFrame);
    if (area === IDLE) continue;
    busyUs += us;
    const name = label(node.callFrame);
    const entry = functions.get(name) ?? { name, area, ms: 0 };
    entry.ms += us / 1000;
    functions.set(name, entry);
    areas.set(area, (areas.get(area) ?? 0) + us / 1000);
    const stack: string[] = [];
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = required(byId.get(at), `profile node ${at}`).callFrame;
      if (frame.functionName !== '(root)') stack.push((frame.functionName || '(anonymous)').replace(/[; ]/g, '_'));
    }
    const key = stack.reverse().join(';');
    folded.set(key, (folded.get(key) ?? 0) + us);
  }
  return {
    busyMs: busyUs / 1000,
    totalMs: (profile.endTime - profile.startTime) / 1000,
    functions: [...functions.values()].sort((a, b) => b.ms - a.ms),
    areas: [...areas.entries()].map(([area, ms]) => ({ area, ms })).sort((a, b) => b.ms - a.ms),
    folded: [...folded.entries()].map(([stack, us]) => `${stack} ${Math.round(us)}`),
  };
}

function percent(part: number, whole: number): string {
  return whole > 0 ? `${((100 * part) / whole).toFixed(1)} %` : '—';
}

export function renderSummary(file: string, summary: Summary, top = 25): string {
  const { busyMs, totalMs } = summary;
  return [
    `### ${file}`,
    '',
    `Busy ${(busyMs / 1000).toFixed(2)} s of ${(totalMs / 1000).toFixed(1)} s profiled (the rest idle).`,
    '',
    markdownTable(
      ['where', 'self ms', 'of busy'],
      summary.areas.map((a) => [a.area, a.ms.toFixed(0), percent(a.ms, busyMs)]),
      ['left', 'right', 'right'],
    ),
    '',
    markdownTable(
      ['function', 'where', 'self ms', 'of busy'],
      summary.functions.slice(0, top).map((f) => [f.name, f.area, f.ms.toFixed(0), percent(f.ms, busyMs)]),
      ['left', 'left', 'right', 'right'],
    ),
  ].join('\n');
}

async function main(files: string[]): Promise<void> {
  if (files.length === 0) {
    process.stderr.write('usage: node dist/bench/profile-summary.js FILE.cpuprofile...\n');
    process.exitCode = 2;
    return;
  }
  for (const file of files) {
    const summary = summarize(JSON.parse(await readFile(file, 'utf8')) as CpuProfile);
    await writeFile(`${file}.folded`, `${summary.folded.join('\n')}\n`);
    process.stdout.write(`${renderSummary(file, summary)}\n\nFolded stacks (µs): ${file}.folded\n\n`);
  }
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  await main(process.argv.slice(2));
}
