/** Range grammars of the built-in registry: `Range` on downloads, `Content-Range` on upload chunks. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseContentRange, parseRangeHeader, uploadRangeHeader } from '../../src/backend/filesystem/http-range.js';

describe('parseRangeHeader', () => {
  const size = 1000;

  test('no header, or one the server may ignore, means the whole blob', () => {
    assert.deepEqual(parseRangeHeader(undefined, size), { kind: 'whole' });
    assert.deepEqual(parseRangeHeader('bytes=0-9,20-29', size), { kind: 'whole' }, 'multiple ranges');
    assert.deepEqual(parseRangeHeader('items=0-9', size), { kind: 'whole' }, 'other unit');
    assert.deepEqual(parseRangeHeader('bytes=9-0', size), { kind: 'whole' }, 'last before first is invalid, so ignored');
    assert.deepEqual(parseRangeHeader('bytes=-', size), { kind: 'whole' });
  });

  test('first-last, open-ended and suffix ranges', () => {
    assert.deepEqual(parseRangeHeader('bytes=10-19', size), { kind: 'partial', range: { start: 10, end: 19 } });
    assert.deepEqual(parseRangeHeader('bytes=990-', size), { kind: 'partial', range: { start: 990, end: 999 } });
    assert.deepEqual(parseRangeHeader('bytes=-5', size), { kind: 'partial', range: { start: 995, end: 999 } });
    assert.deepEqual(parseRangeHeader('bytes=-5000', size), { kind: 'partial', range: { start: 0, end: 999 } });
    assert.deepEqual(parseRangeHeader('bytes=900-5000', size), { kind: 'partial', range: { start: 900, end: 999 } }, 'end clamped');
  });

  test('ranges that select nothing are unsatisfiable', () => {
    assert.deepEqual(parseRangeHeader('bytes=1000-', size), { kind: 'unsatisfiable' });
    assert.deepEqual(parseRangeHeader('bytes=1000-2000', size), { kind: 'unsatisfiable' });
    assert.deepEqual(parseRangeHeader('bytes=-0', size), { kind: 'unsatisfiable' });
    assert.deepEqual(parseRangeHeader('bytes=0-0', 0), { kind: 'unsatisfiable' }, 'any range of an empty blob');
    assert.deepEqual(parseRangeHeader(`bytes=${'9'.repeat(20)}-`, size), { kind: 'unsatisfiable' }, 'absurd numbers');
  });
});

describe('parseContentRange (upload chunks)', () => {
  test('the spec form and the bytes form', () => {
    assert.deepEqual(parseContentRange('0-99'), { start: 0, end: 99 });
    assert.deepEqual(parseContentRange('bytes 100-199/*'), { start: 100, end: 199 });
    assert.deepEqual(parseContentRange('bytes=5-5'), { start: 5, end: 5 });
  });

  test('malformed values', () => {
    for (const bad of ['', '-', '5-', '-5', '10-9', 'a-b', '1-2-3', '0x1-2', `${'1'.repeat(16)}-${'1'.repeat(16)}`]) {
      assert.equal(parseContentRange(bad), undefined, bad);
    }
  });

  test('the Range header of upload answers', () => {
    assert.equal(uploadRangeHeader(100), '0-99');
    assert.equal(uploadRangeHeader(1), '0-0');
    assert.equal(uploadRangeHeader(0), '0-0');
  });
});
