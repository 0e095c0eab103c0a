/**
 * Blob upload sessions on disk (`uploads/<id>/data` + `state.json`).
 *
 * The digest is computed while the bytes stream in. Everything a session needs survives in its
 * folder: the data file and the acknowledged `offset` in `state.json` (written, like everything,
 * fsync + rename). Bytes below the acknowledged offset never change again, so the sha256 of the
 * first `offset` bytes can always be recomputed from the file. Node cannot serialize a hash's
 * state, so each process keeps the running hashes of the sessions it served in memory, as a cache:
 * one that covers fewer bytes than the session now has (another worker, or before a restart,
 * received the chunks in between) is brought up to date by hashing only the bytes it has not
 * seen. That is what lets consecutive requests of one upload reach different worker processes.
 *
 * Requests on one session run one at a time, across all processes of the server (`lock`: the
 * cluster lock under `workers`). A chunk that fails half-way is rolled back: the file is truncated
 * to the last acknowledged offset and the hash restored from a copy taken before the chunk.
 * Digests other than sha256 (sha512) are verified by hashing the finished file, the one case that
 * reads the data twice.
 */
import { randomUUID } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { open, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { RegistryError } from '../../oci/errors.js';
import { PRIVATE_FILE_MODE } from '../../lib/file-modes.js';
import type { BlobStore } from './blob-store.js';
import { CANONICAL_ALGORITHM, digestFile, hashFileInto, newHash, type Digest } from './digest.js';
import { fsyncDir, mkdirDurable, writeFileAtomic } from '../../lib/atomic-write.js';
import { isNotFound, readTextIfExists } from './durable-fs.js';
import type { ByteRange } from './http-range.js';
import { uploadRangeHeader } from './http-range.js';
import { KeyedLock, type SectionLock } from '../../lib/section-lock.js';
import type { StorageLayout } from './layout.js';

/** Upload data is written to disk in batches of about this size. */
const WRITE_BATCH_BYTES = 1024 * 1024;

interface UploadState {
  readonly repository: string;
  readonly startedAt: number;
  /** Bytes received, fsynced and acknowledged. */
  readonly offset: number;
}

/** A chunk of upload data from a PATCH or a closing PUT. */
export interface ChunkInput {
  readonly body: AsyncIterable<unknown>;
  /** From Content-Range; undefined for a streamed chunk (appended at the current offset). */
  readonly range: ByteRange | undefined;
  /** From Content-Length, when the client sent one. */
  readonly declaredLength: number | undefined;
}

interface RunningHash {
  readonly hash: Hash;
  readonly offset: number;
}

/** The session's key in the (possibly cross-process) lock: never a `repository:tag` key of the tag lock. */
function lockKey(id: string): string {
  return `_upload/${id}`;
}

export function uploadLocation(repository: string, id: string): string {
  return `/v2/${repository}/blobs/uploads/${id}`;
}

function unknownUpload(): RegistryError {
  return new RegistryError('BLOB_UPLOAD_UNKNOWN');
}

export class UploadStore {
  private readonly hashes = new Map<string, RunningHash>();

  /** `lock` orders the requests of one session; give every process of a server the same one (ClusterLock). */
  constructor(
    private readonly layout: StorageLayout,
    private readonly blobs: BlobStore,
    private readonly logger: Logger,
    private readonly lock: SectionLock = new KeyedLock(),
  ) {}

  async create(repository: string): Promise<string> {
    const id = randomUUID();
    const dir = this.layout.upload(id);
    await mkdirDurable(dir);
    const handle = await open(this.layout.uploadData(id), 'wx', PRIVATE_FILE_MODE);
    await handle.close();
    // state.json last: a folder without it is not a session (and is swept as abandoned).
    await this.writeState(id, { repository, startedAt: Date.now(), offset: 0 });
    this.hashes.set(id, { hash: newHash(CANONICAL_ALGORITHM), offset: 0 });
    return id;
  }

  /** The acknowledged size of the session; BLOB_UPLOAD_UNKNOWN if there is none for this repository. */
  async status(repository: string, id: string): Promise<number> {
    return (await this.loadState(repository, id)).offset;
  }

  /** Appends one chunk; returns the new acknowledged size. */
  appendChunk(repository: string, id: string, chunk: ChunkInput): Promise<number> {
    return this.lock.run(lockKey(id), async () => {
      const state = await this.prepare(repository, id);
      return (await this.writeChunk(id, state, chunk)).offset;
    });
  }

  /**
   * Writes the optional final chunk, verifies the whole upload against `digest`, and commits it as a
   * blob linked in `repository`. On a digest mismatch the session is discarded and nothing is stored.
   */
  complete(repository: string, id: string, digest: Digest, chunk: ChunkInput): Promise<void> {
    return this.lock.run(lockKey(id), async () => {
      let state = await this.prepare(repository, id);
      state = await this.writeChunk(id, state, chunk);
      const data = this.layout.uploadData(id);
      const actual =
        digest.algorithm === CANONICAL_ALGORITHM
          ? (await this.runningHash(id, state)).hash.copy().digest('hex')
          : (await digestFile(digest.algorithm, data, state.offset)).hex;
      if (actual !== digest.hex) {
        await this.discard(id);
        throw new RegistryError('DIGEST_INVALID', undefined, {
          detail: { expected: digest.value, actual: `${digest.algorithm}:${actual}` },
        });
      }
      // The data was fsynced when its chunk was acknowledged (writeChunk), so it can go in place now.
      await this.blobs.commitFile(data, digest);
      await this.blobs.link(repository, digest);
      await this.discard(id);
    });
  }

  cancel(repository: string, id: string): Promise<void> {
    return this.lock.run(lockKey(id), async () => {
      await this.loadState(repository, id);
      await this.discard(id);
    });
  }

  /** Deletes sessions (and stray temp files) untouched for longer than `maxAgeMs`; returns how many. */
  async removeAbandoned(maxAgeMs: number): Promise<number> {
    const cutoff = Date.now() - maxAgeMs;
    const isStale = async (id: string) => {
      const newest = await this.lastActivity(id);
      return newest !== undefined && newest < cutoff;
    };
    let removed = 0;
    const ids = await readdir(this.layout.uploadsDir).catch(() => [] as string[]);
    for (const id of ids) {
      // A session in use is fresh: only the stale ones wait for the lock (held, maybe, by another process).
      if (!(await isStale(id))) continue;
      const stale = await this.lock
        .run(lockKey(id), async () => {
          // Looked at again under the session's lock, so a request that just used it keeps it.
          if (!(await isStale(id))) return false;
          await this.discard(id);
          return true;
        })
        .catch((error: unknown) => {
          this.logger.warn({ upload: id, err: error }, 'could not sweep an abandoned upload');
          return false;
        });
      if (stale) removed += 1;
    }
    // Running hashes of sessions that another process completed or cancelled.
    const present = new Set(ids);
    for (const id of this.hashes.keys()) if (!present.has(id)) this.hashes.delete(id);
    // Only files: `_tmp/gc/` holds what a gc run set aside, put back by the next run if it crashed.
    for (const name of await readdir(this.layout.tmpDir).catch(() => [] as string[])) {
      const path = join(this.layout.tmpDir, name);
      const info = await stat(path).catch(() => undefined);
      if (info?.isFile() && info.mtimeMs < cutoff) await rm(path, { force: true });
    }
    return removed;
  }

  private async lastActivity(id: string): Promise<number | undefined> {
    let newest: number | undefined;
    for (const path of [this.layout.upload(id), this.layout.uploadData(id), this.layout.uploadState(id)]) {
      const info = await stat(path).catch(() => undefined);
      if (info) newest = Math.max(newest ?? 0, info.mtimeMs);
    }
    return newest;
  }

  private async loadState(repository: string, id: string): Promise<UploadState> {
    const text = await readTextIfExists(this.layout.uploadState(id));
    if (text === undefined) throw unknownUpload();
    let state: UploadState;
    try {
      state = JSON.parse(text) as UploadState;
    } catch {
      throw unknownUpload();
    }
    if (state.repository !== repository || !Number.isSafeInteger(state.offset)) throw unknownUpload();
    return state;
  }

  /** Loads the session and cuts off bytes a crash left past the acknowledged offset. */
  private async prepare(repository: string, id: string): Promise<UploadState> {
    const state = await this.loadState(repository, id);
    const data = this.layout.uploadData(id);
    const info = await stat(data).catch((error: unknown) => {
      if (isNotFound(error)) throw unknownUpload();
      throw error;
    });
    if (info.size !== state.offset) {
      const handle = await open(data, 'r+');
      try {
        await handle.truncate(state.offset);
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
    return state;
  }

  /**
   * The running hash covering exactly `state.offset` bytes. A cached one that covers fewer (the
   * chunks in between reached another process) hashes only the bytes it has not seen; without one
   * (the first request here, or after a restart) the whole acknowledged part is hashed once.
   */
  private async runningHash(id: string, state: UploadState): Promise<RunningHash> {
    const cached = this.hashes.get(id);
    if (cached && cached.offset === state.offset) return cached;
    const resumed = cached && cached.offset < state.offset ? cached : undefined;
    const from = resumed?.offset ?? 0;
    const hash = resumed && from > 0 ? resumed.hash : newHash(CANONICAL_ALGORITHM);
    this.hashes.delete(id); // until it covers `state.offset` again: a read that fails half-way leaves no wrong entry
    await hashFileInto(hash, this.layout.uploadData(id), state.offset, from);
    const caughtUp = { hash, offset: state.offset };
    this.hashes.set(id, caughtUp);
    this.logger.debug({ upload: id, from, offset: state.offset }, 'upload hash caught up from disk');
    return caughtUp;
  }

  private async writeChunk(id: string, state: UploadState, chunk: ChunkInput): Promise<UploadState> {
    const { range, declaredLength } = chunk;
    if (range !== undefined) {
      if (range.start !== state.offset) {
        throw new RegistryError('BLOB_UPLOAD_RANGE_INVALID', 'chunk does not start where the upload ends', {
          detail: { expectedStart: state.offset, start: range.start },
          headers: { Location: uploadLocation(state.repository, id), Range: uploadRangeHeader(state.offset), 'Docker-Upload-UUID': id },
        });
      }
      if (declaredLength !== undefined && declaredLength !== range.end - range.start + 1) {
        throw new RegistryError('SIZE_INVALID', 'Content-Length does not match Content-Range');
      }
    }
    const running = await this.runningHash(id, state);
    const before = running.hash.copy();
    const handle = await open(this.layout.uploadData(id), 'r+');
    let position = state.offset;
    // Pieces arrive in TLS-record-sized bits (16 KiB). Each is copied at once into one batch buffer,
    // hashed and written when full: one hash update, one syscall and one await per MiB, not per
    // piece, and the pieces die young. Held in a list until written, they would outlive
    // young-generation collections and be promoted, and only full mark-compacts would free them
    // again (docs/benchmarks.md).
    const batch = Buffer.allocUnsafeSlow(WRITE_BATCH_BYTES);
    let batched = 0;
    const flush = async () => {
      running.hash.update(batch.subarray(0, batched));
      let written = 0;
      while (written < batched) {
        const { bytesWritten } = await handle.write(batch, written, batched - written, position);
        written += bytesWritten;
        position += bytesWritten;
      }
      batched = 0;
    };
    try {
      for await (const piece of chunk.body) {
        const buffer = piece as Buffer;
        for (let copied = 0; copied < buffer.length;) {
          const n = buffer.copy(batch, batched, copied);
          copied += n;
          batched += n;
          if (batched === batch.length) await flush();
        }
      }
      if (batched > 0) await flush();
      const received = position - state.offset;
      if (range !== undefined && received !== range.end - range.start + 1) {
        throw new RegistryError('SIZE_INVALID', 'chunk length does not match Content-Range', { detail: { received } });
      }
      if (received === 0) return state;
      await handle.sync();
      const next = { ...state, offset: position };
      await this.writeState(id, next);
      this.hashes.set(id, { hash: running.hash, offset: position });
      return next;
    } catch (error) {
      await handle.truncate(state.offset).catch(() => undefined);
      this.hashes.set(id, { hash: before, offset: state.offset });
      throw error;
    } finally {
      await handle.close();
    }
  }

  private async writeState(id: string, state: UploadState): Promise<void> {
    await writeFileAtomic(this.layout.uploadState(id), JSON.stringify(state), { tmpDir: this.layout.upload(id) });
  }

  private async discard(id: string): Promise<void> {
    this.hashes.delete(id);
    await rm(this.layout.upload(id), { recursive: true, force: true });
    await fsyncDir(this.layout.uploadsDir).catch(() => undefined);
  }
}
