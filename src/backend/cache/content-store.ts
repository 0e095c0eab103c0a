/**
 * The content cache on disk: verified bytes by digest, least recently used first out. Keyed by
 * digest alone and knowing nothing about repositories or upstreams, so that any source of content
 * (the registry behind, a mirror) can fill it; which repository may read what is
 * ./repository-references.ts's question, asked before this store is.
 *
 *   dir/
 *   ├── tmp/<pid>-<random>                     fills in progress; removed at start when their process is gone
 *   ├── blobs/<alg>/<hex>                      a blob's bytes, renamed here only once they matched the digest
 *   ├── manifests/<alg>/<hex>                  `<media type>\n` then the manifest's bytes
 *   └── refs/<kind>/<alg>/<hex>/<sha256(repo)>[.deleted] "the upstream has this digest in this repository" (./repository-references.ts)
 *
 * Workers share the folder: a rename is atomic, and a file removed while another process reads it
 * stays readable through its open descriptor. Each process keeps its own size account (scanned at
 * start, then its own fills), so with `workers` the folder can pass `maxSize` by what the other
 * workers filled since they last evicted.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { errnoCode } from '../../lib/errno.js';
import { PRIVATE_DIR_MODE as DIR_MODE, PRIVATE_FILE_MODE as FILE_MODE } from '../../lib/file-modes.js';
import type { Digest } from '../filesystem/digest.js';
import { LiveFills } from './live-fills.js';

export type ContentKind = 'blobs' | 'manifests';

export interface CacheObserver {
  hit(kind: ContentKind): void;
  miss(kind: ContentKind): void;
  fetched(bytes: number): void;
  evicted(bytes: number): void;
  size(bytes: number): void;
  mismatch(): void;
  /** Served from what the upstream said before, because it is failing now (./stale.ts). */
  stale(kind: ContentKind | 'tags'): void;
}

/** An open cached file: read it, then release it (eviction leaves it alone until then). */
export interface CachedFile {
  readonly handle: FileHandle;
  readonly size: number;
  release(): Promise<void>;
}

/** A temporary file being filled: commit renames it into place, discard removes it. */
export interface PendingFill {
  readonly handle: FileHandle;
  /** The temp file, for requests that read along (./live-fills.ts). */
  readonly path: string;
  commit(size: number): Promise<void>;
  discard(): Promise<void>;
}

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errnoCode(error) === 'EPERM';
  }
}

export class ContentStore {
  readonly dir: string;
  readonly #maxBytes: number;
  readonly #logger: Logger;
  readonly #observer: CacheObserver | undefined;
  /** Key `kind/alg/hex` → bytes, oldest use first (Map order; a use moves the key to the end). */
  readonly #entries = new Map<string, number>();
  readonly #readers = new Map<string, number>();
  #totalBytes = 0;
  /** Bytes the fills in progress may still write (their declared sizes): together never more than maxSize. */
  #reservedBytes = 0;
  /** The fills in progress in this process, for requests that read along. */
  readonly live = new LiveFills();

  private constructor(dir: string, maxBytes: number, logger: Logger, observer: CacheObserver | undefined) {
    this.dir = dir;
    this.#maxBytes = maxBytes;
    this.#logger = logger;
    this.#observer = observer;
  }

  static async open(options: {
    dir: string;
    maxBytes: number;
    logger: Logger;
    observer?: CacheObserver | undefined;
  }): Promise<ContentStore> {
    const store = new ContentStore(options.dir, options.maxBytes, options.logger, options.observer);
    await mkdir(join(options.dir, 'tmp'), { recursive: true, mode: DIR_MODE });
    await store.#removeAbandonedFills();
    await store.#scan();
    return store;
  }

  get maxBytes(): number {
    return this.#maxBytes;
  }

  /** A fill cut short by a crash (kill -9, power loss) left a temp file: never renamed, so never served. */
  async #removeAbandonedFills(): Promise<void> {
    for (const name of await readdir(join(this.dir, 'tmp'))) {
      const pid = Number(name.split('-', 1)[0]);
      if (Number.isInteger(pid) && pid !== process.pid && isProcessAlive(pid)) continue;
      await rm(join(this.dir, 'tmp', name), { force: true });
    }
  }

  async #scan(): Promise<void> {
    const found: { key: string; size: number; used: number }[] = [];
    for (const kind of ['blobs', 'manifests'] as const) {
      for (const algorithm of ['sha256', 'sha512']) {
        const folder = join(this.dir, kind, algorithm);
        const names = await readdir(folder).catch(() => [] as string[]);
        for (const hex of names) {
          const info = await stat(join(folder, hex)).catch(() => undefined);
          if (info?.isFile()) found.push({ key: `${kind}/${algorithm}/${hex}`, size: info.size, used: info.mtimeMs });
        }
      }
    }
    for (const entry of found.sort((a, b) => a.used - b.used)) this.#add(entry.key, entry.size);
    this.#observer?.size(this.#totalBytes);
  }

  #add(key: string, size: number): void {
    const previous = this.#entries.get(key);
    if (previous !== undefined) this.#totalBytes -= previous;
    this.#entries.delete(key);
    this.#entries.set(key, size);
    this.#totalBytes += size;
  }

  #path(key: string): string {
    return join(this.dir, key);
  }

  static key(kind: ContentKind, digest: Digest): string {
    return `${kind}/${digest.algorithm}/${digest.hex}`;
  }

  /** The cached content, opened and held against eviction, or undefined. */
  async acquire(kind: ContentKind, digest: Digest): Promise<CachedFile | undefined> {
    const key = ContentStore.key(kind, digest);
    let handle: FileHandle;
    try {
      handle = await open(this.#path(key), 'r');
    } catch (error) {
      if (errnoCode(error) !== 'ENOENT') throw error;
      if (this.#entries.has(key)) this.#forget(key); // another worker evicted it
      return undefined;
    }
    const { size } = await handle.stat();
    this.#add(key, size);
    this.#readers.set(key, (this.#readers.get(key) ?? 0) + 1);
    let released = false;
    return {
      handle,
      size,
      release: async () => {
        if (released) return;
        released = true;
        const readers = (this.#readers.get(key) ?? 1) - 1;
        if (readers === 0) this.#readers.delete(key);
        else this.#readers.set(key, readers);
        await handle.close();
      },
    };
  }

  /**
   * Room on disk for a fill of `bytes`, or undefined when the fills in progress have taken it all:
   * so many requests at once for different content never write more than maxSize to `tmp/` (the
   * content is then forwarded uncached). The returned function gives the room back.
   */
  reserve(bytes: number): (() => void) | undefined {
    if (this.#reservedBytes + bytes > this.#maxBytes) return undefined;
    this.#reservedBytes += bytes;
    let given = false;
    return () => {
      if (given) return;
      given = true;
      this.#reservedBytes -= bytes;
    };
  }

  /** A temp file to fill; nothing is visible under the digest until `commit` (fsync, rename). */
  async beginFill(kind: ContentKind, digest: Digest): Promise<PendingFill> {
    const key = ContentStore.key(kind, digest);
    const temp = join(this.dir, 'tmp', `${process.pid}-${randomBytes(8).toString('hex')}`);
    const handle = await open(temp, 'wx', FILE_MODE);
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      await handle.close();
    };
    return {
      handle,
      path: temp,
      commit: async (size) => {
        await handle.sync();
        await close();
        await mkdir(join(this.dir, kind, digest.algorithm), { recursive: true, mode: DIR_MODE });
        await rename(temp, this.#path(key));
        this.#add(key, size);
        await this.#evictOverflow();
        this.#observer?.size(this.#totalBytes);
      },
      discard: async () => {
        await close().catch(() => undefined);
        await rm(temp, { force: true });
      },
    };
  }

  /** Removes content (a purge); false when it was not cached. Readers keep their open copy. */
  async remove(kind: ContentKind, digest: Digest): Promise<boolean> {
    const key = ContentStore.key(kind, digest);
    this.#forget(key);
    try {
      await unlink(this.#path(key));
      return true;
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return false;
      throw error;
    }
  }

  #forget(key: string): void {
    const size = this.#entries.get(key);
    if (size === undefined) return;
    this.#entries.delete(key);
    this.#totalBytes -= size;
  }

  /** Least recently used first, skipping what is being read, until the cache fits `maxSize`. */
  async #evictOverflow(): Promise<void> {
    if (this.#totalBytes <= this.#maxBytes) return;
    for (const [key, size] of [...this.#entries]) {
      if (this.#totalBytes <= this.#maxBytes) break;
      if (this.#readers.has(key)) continue;
      this.#forget(key);
      await unlink(this.#path(key)).catch(() => undefined);
      // What the upstream said about this digest is kept with it, and goes with it.
      const [kind = '', algorithm = '', hex = ''] = key.split('/');
      await rm(join(this.dir, 'refs', kind, algorithm, hex), { recursive: true, force: true });
      this.#observer?.evicted(size);
      this.#logger.debug({ key, size }, 'cache: evicted');
    }
  }

  /** Bytes this process accounts for. */
  get totalBytes(): number {
    return this.#totalBytes;
  }
}
