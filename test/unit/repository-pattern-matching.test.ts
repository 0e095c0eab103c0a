/**
 * Repository patterns are matched without backtracking (src/access/pattern.ts; the attack is in
 * test/integration/personal-token-scope-redos.test.ts). The one-pass matcher must say what the
 * patterns always meant: checked here against the regular expressions they used to compile to
 * (`*` → `[^/]*`, `**` → `.+`, the rest literal), over random short patterns and names.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRepositoryPattern } from '../../src/access/pattern.js';

const PATTERN_PARTS = ['a', 'b', '/', '*', '**', '.', '-', 'ab', '${user}', '${group}'];
const NAME_PARTS = ['a', 'b', '/', '.', '-', 'ab', 'u', 'g1'];

function pick<T>(parts: readonly T[], seed: { value: number }): T {
  // A small linear congruential generator: the same cases on every run.
  seed.value = (seed.value * 1103515245 + 12345) % 2147483648;
  return parts[seed.value % parts.length] as T;
}

function asRegExp(pattern: string, user: string, group: string): RegExp {
  const text = pattern
    .replaceAll('${user}', '\u0001')
    .replaceAll('${group}', '\u0002')
    .split(/(\*\*|\*)/)
    .map((part) =>
      part === '**'
        ? '.+'
        : part === '*'
          ? '[^/]*'
          : part
              .replace(/[.*+?^${}()|[\]\\-]/g, '\\$&')
              .replaceAll('\u0001', user)
              .replaceAll('\u0002', group),
    )
    .join('');
  return new RegExp(`^${text}$`);
}

test('the one-pass matcher agrees with the regular expressions patterns meant, on 4000 random cases', () => {
  const seed = { value: 20261203 };
  for (let round = 0; round < 4000; round += 1) {
    const pattern = Array.from({ length: 1 + (round % 6) }, () => pick(PATTERN_PARTS, seed)).join('');
    if (/\*{3,}/.test(pattern)) continue;
    const name = Array.from({ length: round % 9 }, () => pick(NAME_PARTS, seed)).join('');
    const expected = asRegExp(pattern, 'u', 'g1').test(name);
    assert.equal(compileRepositoryPattern(pattern).matches(name, 'u', ['g1']), expected, `${pattern} against ${JSON.stringify(name)}`);
  }
});

test('many stars against a long name that nearly matches: answered at once', () => {
  const started = Date.now();
  assert.equal(compileRepositoryPattern(`x/${'a*'.repeat(40)}b`).matches(`x/${'a'.repeat(250)}`, null, []), false);
  assert.equal(compileRepositoryPattern(`${'**/'.repeat(40)}z`).matches('a/'.repeat(120) + 'y', null, []), false);
  assert.ok(Date.now() - started < 500, `${Date.now() - started} ms`);
});
