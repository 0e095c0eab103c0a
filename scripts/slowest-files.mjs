// A node:test reporter that prints, once the run is over, the ten test files that took longest
// (wall time: from the runner taking the file off its queue to the file's completion, the events
// whose test name is the file itself) and the run's total. Used beside the
// spec reporter by scripts/test.sh, so every run says where its minutes went.
// Plain JavaScript: node:test loads reporters before anything is compiled.
import { relative } from 'node:path';

const SHOWN = 10;

export default async function* slowestFiles(source) {
  /** file → [started, completed] in ms since the run began */
  const spans = new Map();
  const began = performance.now();
  for await (const event of source) {
    const file = event.data?.file;
    if (file === undefined || event.data.name !== file) continue;
    const now = performance.now() - began;
    if (event.type === 'test:dequeue') spans.set(file, [now, now]);
    else if (event.type === 'test:complete' && spans.has(file)) spans.get(file)[1] = now;
  }
  const rows = [...spans].map(([file, [first, last]]) => ({ file: relative(process.cwd(), file), seconds: (last - first) / 1000 }));
  rows.sort((a, b) => b.seconds - a.seconds);
  const total = (performance.now() - began) / 1000;
  yield `\nslowest test files (of ${rows.length}, ${total.toFixed(1)} s in all):\n`;
  for (const row of rows.slice(0, SHOWN)) yield `  ${row.seconds.toFixed(1).padStart(7)} s  ${row.file}\n`;
}
