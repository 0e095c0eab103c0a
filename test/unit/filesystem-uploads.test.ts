/**
 * Upload sessions of the built-in registry on a real temp dir: resuming with a fresh store (what a
 * restart leaves), rollback of a failed chunk, bytes a crash left past the acknowledged offset,
 * sha512, the sweep of abandoned sessions, and one session served by several stores in turn (the
 * worker processes of one server).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { appendFile, readFile, stat, utimes } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { BlobStore } from '../../src/backend/filesystem/blob-store.js';
import { parseDigest } from '../../src/backend/filesystem/digest.js';
import { mkdirDurable } from '../../src/lib/atomic-write.js';
import { StorageLayout } from '../../src/backend/filesystem/layout.js';
import { UploadStore, type ChunkInput } from '../../src/backend/filesystem/upload-store.js';
import { RegistryError } from '../../src/oci/errors.js';
import { KeyedLock } from '../../src/lib/section-lock.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { randomBlob, sha256, sha512 } from '../helpers/registry-client.js';

const logger = pino({ level: 'silent' });

function chunk(data: Buffer, range?: { start: number; end: number }): ChunkInput {
  // Several pieces, as a socket delivers them.
  const pieces = [data.subarray(0, Math.floor(data.length / 3)), data.subarray(Math.floor(data.length / 3))];
  return { body: Readable.from(pieces), range, declaredLength: undefined };
}

function isCode(code: string) {
  return (error: unknown) => error instanceof RegistryError && error.code === code;
}

describe('UploadStore', () => {
  let root: string;
  let layout: StorageLayout;
  let blobs: BlobStore;
  const newStore = () => new UploadStore(layout, blobs, logger);

  before(async () => {
    root = await makeTempDir('registry-gate-uploads-');
    layout = new StorageLayout(root);
    for (const dir of [layout.blobsDir, layout.uploadsDir, layout.tmpDir]) await mkdirDurable(dir);
    blobs = new BlobStore(layout);
  });
  after(() => removeDir(root));

  async function assertStored(repository: string, digest: string, data: Buffer): Promise<void> {
    const info = await blobs.statInRepository(repository, parseDigest(digest), { includeManifests: false });
    assert.ok(info, 'blob linked in the repository');
    assert.deepEqual(await readFile(info.path), data);
  }

  test('a session survives a restart: a fresh store re-hashes what was acknowledged and carries on', async () => {
    const data = randomBlob(100_000);
    const before = newStore();
    const id = await before.create('repo');
    assert.equal(await before.appendChunk('repo', id, chunk(data.subarray(0, 40_000), { start: 0, end: 39_999 })), 40_000);

    const after = newStore(); // nothing in memory, as after a restart
    assert.equal(await after.status('repo', id), 40_000);
    assert.equal(await after.appendChunk('repo', id, chunk(data.subarray(40_000, 70_000))), 70_000);
    await after.complete('repo', id, parseDigest(sha256(data)), chunk(data.subarray(70_000), { start: 70_000, end: 99_999 }));
    await assertStored('repo', sha256(data), data);
    await assert.rejects(after.status('repo', id), isCode('BLOB_UPLOAD_UNKNOWN'), 'the session is gone once committed');
  });

  test('a chunk that fails is rolled back: offset, file and running digest as before it', async () => {
    const store = newStore();
    const data = randomBlob(30_000);
    const id = await store.create('repo');
    await store.appendChunk('repo', id, chunk(data.subarray(0, 10_000)));
    // Declares 10 000 bytes, sends 5 000: refused after the bytes were written and hashed.
    await assert.rejects(
      store.appendChunk('repo', id, chunk(data.subarray(10_000, 15_000), { start: 10_000, end: 19_999 })),
      isCode('SIZE_INVALID'),
    );
    assert.equal(await store.status('repo', id), 10_000);
    assert.equal((await stat(layout.uploadData(id))).size, 10_000);
    await assert.rejects(
      store.appendChunk('repo', id, chunk(data.subarray(5000, 6000), { start: 5000, end: 5999 })),
      (error: unknown) => error instanceof RegistryError && error.status === 416,
    );
    await store.appendChunk('repo', id, chunk(data.subarray(10_000)));
    await store.complete('repo', id, parseDigest(sha256(data)), chunk(Buffer.alloc(0)));
    await assertStored('repo', sha256(data), data);
  });

  test('a client that goes away mid-chunk leaves the session as it was before the chunk', async () => {
    const store = newStore();
    const data = randomBlob(50_000);
    const id = await store.create('repo');
    await store.appendChunk('repo', id, chunk(data.subarray(0, 20_000)));
    const broken = Readable.from(
      (function* () {
        yield data.subarray(20_000, 30_000);
        throw new Error('aborted');
      })(),
    );
    await assert.rejects(store.appendChunk('repo', id, { body: broken, range: undefined, declaredLength: undefined }), /aborted/);
    assert.equal(await store.status('repo', id), 20_000);
    assert.equal((await stat(layout.uploadData(id))).size, 20_000);
    await store.complete('repo', id, parseDigest(sha256(data)), chunk(data.subarray(20_000)));
    await assertStored('repo', sha256(data), data);
  });

  test('bytes a crash left past the acknowledged offset are cut off', async () => {
    const data = randomBlob(20_000);
    const store = newStore();
    const id = await store.create('repo');
    await store.appendChunk('repo', id, chunk(data.subarray(0, 8000)));
    await appendFile(layout.uploadData(id), randomBlob(3000)); // an unacknowledged, half-written chunk
    const restarted = newStore();
    assert.equal(await restarted.status('repo', id), 8000);
    await restarted.complete('repo', id, parseDigest(sha256(data)), chunk(data.subarray(8000), { start: 8000, end: 19_999 }));
    await assertStored('repo', sha256(data), data);
  });

  test('a wrong digest stores nothing and ends the session; sha512 digests are verified too', async () => {
    const store = newStore();
    const data = randomBlob(5000);
    const id = await store.create('repo');
    await store.appendChunk('repo', id, chunk(data));
    await assert.rejects(store.complete('repo', id, parseDigest(sha256('other')), chunk(Buffer.alloc(0))), isCode('DIGEST_INVALID'));
    assert.equal(await blobs.stat(parseDigest(sha256(data))), undefined);
    await assert.rejects(store.status('repo', id), isCode('BLOB_UPLOAD_UNKNOWN'));

    const second = await store.create('repo');
    await store.appendChunk('repo', second, chunk(data));
    await store.complete('repo', second, parseDigest(sha512(data)), chunk(Buffer.alloc(0)));
    const info = await blobs.stat(parseDigest(sha512(data)));
    assert.ok(info);
    assert.equal(
      createHash('sha512')
        .update(await readFile(info.path))
        .digest('hex'),
      sha512(data).slice('sha512:'.length),
    );
  });

  test('sessions belong to their repository', async () => {
    const store = newStore();
    const id = await store.create('mine');
    await assert.rejects(store.status('theirs', id), isCode('BLOB_UPLOAD_UNKNOWN'));
    await assert.rejects(store.appendChunk('theirs', id, chunk(Buffer.from('x'))), isCode('BLOB_UPLOAD_UNKNOWN'));
  });

  test('abandoned sessions are swept, active ones are not', async () => {
    const store = newStore();
    const stale = await store.create('repo');
    const active = await store.create('repo');
    const old = new Date(Date.now() - 3600_000);
    for (const path of [layout.upload(stale), layout.uploadData(stale), layout.uploadState(stale)]) await utimes(path, old, old);
    assert.equal(await store.removeAbandoned(60_000), 1);
    await assert.rejects(store.status('repo', stale), isCode('BLOB_UPLOAD_UNKNOWN'));
    assert.equal(await store.status('repo', active), 0);
  });
});

describe('UploadStore in several processes (one lock, one folder, a store each)', () => {
  let root: string;
  let layout: StorageLayout;
  let blobs: BlobStore;

  before(async () => {
    root = await makeTempDir('registry-gate-uploads-shared-');
    layout = new StorageLayout(root);
    for (const dir of [layout.blobsDir, layout.uploadsDir, layout.tmpDir]) await mkdirDurable(dir);
    blobs = new BlobStore(layout);
  });
  after(() => removeDir(root));

  test('chunks alternating between two stores: each catches up by hashing only the bytes it has not seen', async () => {
    const lines: Array<{ msg?: string; from?: number; offset?: number; store: string }> = [];
    const capture = (store: string) =>
      pino({ level: 'debug' }, { write: (line: string) => void lines.push({ ...(JSON.parse(line) as object), store }) });
    const lock = new KeyedLock();
    const one = new UploadStore(layout, blobs, capture('one'), lock);
    const two = new UploadStore(layout, blobs, capture('two'), lock);
    const data = randomBlob(50_000);
    const id = await one.create('repo');
    await one.appendChunk('repo', id, chunk(data.subarray(0, 10_000)));
    await two.appendChunk('repo', id, chunk(data.subarray(10_000, 20_000), { start: 10_000, end: 19_999 }));
    await one.appendChunk('repo', id, chunk(data.subarray(20_000, 30_000)));
    await two.appendChunk('repo', id, chunk(data.subarray(30_000, 40_000)));
    await one.complete('repo', id, parseDigest(sha256(data)), chunk(data.subarray(40_000)));
    await assertStoredIn(blobs, 'repo', sha256(data), data);
    const caughtUp = lines
      .filter((line) => line.msg === 'upload hash caught up from disk')
      .map(({ store, from, offset }) => ({ store, from, offset }));
    assert.deepEqual(caughtUp, [
      { store: 'two', from: 0, offset: 10_000 }, // never saw the session: hashes what was acknowledged
      { store: 'one', from: 10_000, offset: 20_000 }, // only the chunk the other store took
      { store: 'two', from: 20_000, offset: 30_000 },
      { store: 'one', from: 30_000, offset: 40_000 },
    ]);
  });

  test('a session one store completed is dropped from the other store at its next sweep', async () => {
    const lock = new KeyedLock();
    const one = new UploadStore(layout, blobs, logger, lock);
    const two = new UploadStore(layout, blobs, logger, lock);
    const data = randomBlob(5000);
    const id = await one.create('repo');
    await two.appendChunk('repo', id, chunk(data));
    await one.complete('repo', id, parseDigest(sha256(data)), chunk(Buffer.alloc(0)));
    await assert.rejects(two.appendChunk('repo', id, chunk(data)), isCode('BLOB_UPLOAD_UNKNOWN'));
    assert.equal(await two.removeAbandoned(60_000), 0);
    assert.equal(
      (two as unknown as { hashes: Map<string, unknown> }).hashes.has(id),
      false,
      'no running hash kept for a session that is gone',
    );
  });
});

async function assertStoredIn(blobs: BlobStore, repository: string, digest: string, data: Buffer): Promise<void> {
  const info = await blobs.statInRepository(repository, parseDigest(digest), { includeManifests: false });
  assert.ok(info, 'blob linked in the repository');
  assert.deepEqual(await readFile(info.path), data);
}
