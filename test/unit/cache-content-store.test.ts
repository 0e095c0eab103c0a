/**
 * The content cache's store on a real folder: verified fills, least-recently-used eviction by
 * bytes that never removes a file being read, fills abandoned by a dead process removed at start,
 * and the `cache.maxSize` grammar.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pino } from 'pino';
import { ContentStore } from '../../src/backend/cache/content-store.js';
import { fillVerified } from '../../src/backend/cache/verified-fill.js';
import { digestBytes, type Digest } from '../../src/backend/filesystem/digest.js';
import { parseByteSize } from '../../src/config/schema/cache.js';
import { makeTempDir, removeDir } from '../helpers/process.js';

const logger = pino({ level: 'silent' });

function content(size: number, seed: string): { bytes: Buffer; digest: Digest } {
  const bytes = Buffer.alloc(size, createHash('sha256').update(seed).digest());
  return { bytes, digest: digestBytes('sha256', bytes) };
}

/** The bytes in pieces, as a socket delivers them. */
function chunks(bytes: Buffer, size = 1000): Readable {
  const pieces: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += size) pieces.push(bytes.subarray(at, at + size));
  return Readable.from(pieces);
}

async function fill(store: ContentStore, item: { bytes: Buffer; digest: Digest }, body = item.bytes) {
  return fillVerified(store, { kind: 'blobs', digest: item.digest, body: chunks(body), declaredSize: item.bytes.length }, undefined, {
    logger,
    observer: undefined,
    upstreamPath: '/test',
  });
}

test('a fill is stored only when its bytes match the digest; nothing is left in tmp either way', async () => {
  const dir = await makeTempDir('rg-cache-unit-');
  try {
    const store = await ContentStore.open({ dir, maxBytes: 1_000_000, logger });
    const good = content(5000, 'good');
    assert.equal(await fill(store, good, Buffer.concat([good.bytes.subarray(0, 4999), Buffer.from('x')])), 'mismatch');
    assert.equal(await store.acquire('blobs', good.digest), undefined);
    assert.equal(await fill(store, good), 'stored');
    const file = await store.acquire('blobs', good.digest);
    assert.ok(file);
    assert.equal(file.size, 5000);
    await file.release();
    assert.ok((await readFile(join(dir, 'blobs', 'sha256', good.digest.hex))).equals(good.bytes));
    assert.deepEqual(await readdir(join(dir, 'tmp')), []);
  } finally {
    await removeDir(dir);
  }
});

test('eviction removes the least recently used first, by bytes, and never a file being read', async () => {
  const dir = await makeTempDir('rg-cache-unit-');
  try {
    const evicted: number[] = [];
    const observer = {
      hit() {},
      miss() {},
      fetched() {},
      mismatch() {},
      stale() {},
      size() {},
      evicted: (bytes: number) => void evicted.push(bytes),
    };
    const store = await ContentStore.open({ dir, maxBytes: 3000, logger, observer });
    const a = content(1000, 'a');
    const b = content(1000, 'b');
    const c = content(1000, 'c');
    const d = content(1000, 'd');
    for (const item of [a, b, c]) await fill(store, item);
    const held = await store.acquire('blobs', a.digest); // a: the oldest, but being read, and used last
    assert.ok(held);
    await fill(store, d);
    assert.equal(await store.acquire('blobs', b.digest), undefined, 'b was least recently used');
    assert.deepEqual(evicted, [1000]);
    assert.equal(store.totalBytes, 3000);
    const again = await store.acquire('blobs', a.digest);
    assert.ok(again, 'a stays');
    await again.release();
    // Everything else is held: the cache goes over its size rather than remove what is read.
    const holds = await Promise.all([c, d].map((item) => store.acquire('blobs', item.digest)));
    await fill(store, content(1000, 'e'));
    assert.ok(await store.acquire('blobs', a.digest), 'a, held twice, is still there');
    for (const hold of [held, ...holds]) await hold?.release();
  } finally {
    await removeDir(dir);
  }
});

test('at start, fills left by a process that is gone are removed, those of a live one kept, and the size is counted', async () => {
  const dir = await makeTempDir('rg-cache-unit-');
  try {
    const first = await ContentStore.open({ dir, maxBytes: 1_000_000, logger });
    const kept = content(2000, 'kept');
    await fill(first, kept);
    await mkdir(join(dir, 'tmp'), { recursive: true });
    await writeFile(join(dir, 'tmp', '999999999-abandoned'), 'half a blob');
    await writeFile(join(dir, 'tmp', `${process.ppid}-in-progress`), 'a live fill');
    const second = await ContentStore.open({ dir, maxBytes: 1_000_000, logger });
    assert.deepEqual(await readdir(join(dir, 'tmp')), [`${process.ppid}-in-progress`]);
    assert.equal(second.totalBytes, 2000);
  } finally {
    await removeDir(dir);
  }
});

test('cache.maxSize reads bytes and binary units', () => {
  assert.equal(parseByteSize(1024), 1024);
  assert.equal(parseByteSize('512MiB'), 512 * 1024 ** 2);
  assert.equal(parseByteSize('1.5GiB'), 1.5 * 1024 ** 3);
  assert.equal(parseByteSize('10GB'), undefined);
  assert.equal(parseByteSize(-1), undefined);
});
