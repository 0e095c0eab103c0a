/**
 * `npm run check:sizes` (scripts/check-sizes.mjs, run by the fast tier) holds src/ to the house
 * limits: no file over 400 lines, no function over 80. Here the same script runs over small trees
 * written for the purpose, so that a limit that is off by one, or a kind of function it does not
 * see (an arrow, a method, a closure inside another), cannot go unnoticed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTempDir, removeDir, runProcess, type RunResult } from '../helpers/process.js';

const SCRIPT = fileURLToPath(new URL('../../../scripts/check-sizes.mjs', import.meta.url));

let dir: string;
let cases = 0;

before(async () => {
  dir = await makeTempDir('registry-gate-sizes-');
});

after(async () => {
  if (dir) await removeDir(dir);
});

/** `count` lines of statements, for the body of a function. */
function statements(count: number): string {
  return Array.from({ length: count }, (_, i) => `  console.log(${i});\n`).join('');
}

/** A function of exactly `lines` lines, from its first token to its closing brace. */
function functionOf(name: string, lines: number): string {
  return `export function ${name}(): void {\n${statements(lines - 2)}}\n`;
}

/** Writes `files` into a tree of its own and runs the check over it, as `npm run check:sizes` runs over src/. */
async function check(files: Record<string, string>): Promise<RunResult> {
  const root = join(dir, `case-${++cases}`);
  await mkdir(join(root, 'tree', 'sub'), { recursive: true });
  for (const [path, source] of Object.entries(files)) await writeFile(join(root, 'tree', path), source);
  return runProcess(process.execPath, [SCRIPT, 'tree'], { cwd: root, timeoutMs: 60_000 });
}

describe('npm run check:sizes', () => {
  test('functions of 80 lines and files of 400 pass', async () => {
    const padding = 400 - 80;
    const result = await check({
      'long-enough.ts': functionOf('eighty', 80) + '// filler\n'.repeat(padding),
      'sub/arrow.ts': `export const arrow = (): void => {\n${statements(78)}};\n`,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, '');
  });

  test('a function of 81 lines fails, whatever kind it is, and so does a file of 401', async () => {
    const result = await check({
      'declaration.ts': functionOf('eightyOne', 81),
      'arrow.ts': `export const longArrow = (): void => {\n${statements(79)}};\n`,
      'class.ts': `export class Holder {\n  longMethod(): void {\n${statements(79)}  }\n}\n`,
      // The closure is short; the function around it is not.
      'sub/closure.ts': `export function outer(): () => void {\n${statements(77)}  return () => {\n  };\n}\n`,
      'sub/long-file.ts': '// line\n'.repeat(401),
    });
    assert.equal(result.code, 1);
    const listed = result.stderr
      .split('\n')
      .filter((line) => line.startsWith('tree/'))
      .sort();
    assert.deepEqual(listed, [
      'tree/arrow.ts:1: function longArrow is 81 lines (limit 80)',
      'tree/class.ts:2: function longMethod is 81 lines (limit 80)',
      'tree/declaration.ts:1: function eightyOne is 81 lines (limit 80)',
      'tree/sub/closure.ts:1: function outer is 81 lines (limit 80)',
      'tree/sub/long-file.ts:1: file is 401 lines (limit 400)',
    ]);
    assert.match(result.stderr, /check:sizes: 5 over the limits/);
  });
});
