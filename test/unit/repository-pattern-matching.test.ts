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

/** Every suffix of up to three of NAME_PARTS: the continuations `mayMatchUnder` is checked against. */
const SUFFIXES = ['', ...NAME_PARTS].flatMap((a) => ['', ...NAME_PARTS].flatMap((b) => NAME_PARTS.map((c) => a + b + c)));

test('mayMatchUnder is never too strict: when it says no name under a prefix matches, none of 700 continuations does', () => {
  const seed = { value: 7 };
  let refused = 0;
  for (let round = 0; round < 1500; round += 1) {
    const source = Array.from({ length: 1 + (round % 6) }, () => pick(PATTERN_PARTS, seed)).join('');
    if (/\*{3,}/.test(source)) continue;
    const prefix = Array.from({ length: round % 7 }, () => pick(NAME_PARTS, seed)).join('');
    const pattern = compileRepositoryPattern(source);
    if (pattern.mayMatchUnder(prefix, 'u', ['g1'])) continue;
    refused += 1;
    for (const suffix of SUFFIXES)
      assert.equal(pattern.matches(prefix + suffix, 'u', ['g1']), false, `${source} matches ${prefix + suffix}`);
  }
  assert.ok(refused > 100, `enough prefixes were refused to tell (${refused})`);
});

test('mayMatchUnder skips what a catalog walk should skip', () => {
  const cases: [string, string, boolean][] = [
    ['public/**', 'h00001/', false],
    ['public/**', 'public/', true],
    ['public/**', 'pub', true],
    ['*-open/**', 'b-hidden/', false],
    ['*-open/**', 'a-open/', true],
    ['*-open/**', 'a-open/one/', true],
    ['team/*', 'team/x/', false],
    ['team/*', 'team/', true],
    ['home/${user}/**', 'home/bob/', false],
    ['home/${user}/**', 'home/alice/', true],
    ['**', 'anything/', true],
  ];
  for (const [source, prefix, expected] of cases) {
    assert.equal(compileRepositoryPattern(source).mayMatchUnder(prefix, 'alice', []), expected, `${source} under ${prefix}`);
  }
});
