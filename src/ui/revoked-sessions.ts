/**
 * Sessions ended by logout, until they would have expired anyway. Kept in memory and in an
 * append-only log, `dataDir/ui/revoked-sessions.log` (0600), which every worker process watches, so
 * a logout in one worker ends the session in all of them within 2 seconds (at once in the one that
 * served it):
 *
 *   <sid> <expiry, ms since the epoch>\n        one line per logout
 *
 * What a logout costs does not depend on how many there were before it: it appends (and fsyncs)
 * one line, and every other worker reads only the bytes appended since it last read. Expired
 * entries are dropped, and a log of mostly expired lines rewritten with the live ones (atomically:
 * readers see it replaced and read it whole once), only when the log has grown by as many lines as
 * were live at the last look (and by at least REWRITE_MIN_LINES): that adds a constant per logout
 * on average. Appends and rewrites run under the server's process-shared lock, so no logout is
 * lost to a rewrite.
 */
import { open, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { errnoCode } from '../lib/errno.js';
import { FileWatch } from '../lib/watched-file.js';
import { fsyncDir, writeFileAtomic } from '../lib/atomic-write.js';
import { PRIVATE_FILE_MODE } from '../lib/file-modes.js';
import type { SectionLock } from '../lib/section-lock.js';
import { InternalError } from '../lib/internal-errors.js';

const FILE = 'revoked-sessions.log';
/** Where logouts were kept before the log (whole-file rewrites); its sessions were cookies of version 1, no longer accepted. */
const OLD_FILE = 'revoked-sessions.json';
const LINE = /^([A-Za-z0-9_-]{1,64}) (\d{1,16})$/;
/** Expired entries are looked for every this many lines at least; the log is rewritten when fewer than half of its lines are live. */
const REWRITE_MIN_LINES = 1024;

/** Where this process has read the log up to: which file (inode) and how many bytes of it. */
interface ReadPosition {
  readonly inode: bigint;
  readonly offset: number;
}

export class RevokedSessions {
  readonly #file: string;
  readonly #lock: SectionLock;
  readonly #logger: Logger | undefined;
  readonly #revoked = new Map<string, number>();
  /** Lines in the log as this process last read it, live or not. */
  #lines = 0;
  /** The line count at which expired entries are next dropped (and the log perhaps rewritten). */
  #checkAt = REWRITE_MIN_LINES;
  #position: ReadPosition | undefined;
  /** One read or write of the log at a time in this process. */
  #queue: Promise<void> = Promise.resolve();
  #watch: FileWatch | undefined;

  private constructor(dir: string, lock: SectionLock, logger: Logger | undefined) {
    this.#file = join(dir, FILE);
    this.#lock = lock;
    this.#logger = logger;
  }

  static async open(dir: string, lock: SectionLock, logger?: Logger): Promise<RevokedSessions> {
    const store = new RevokedSessions(dir, lock, logger);
    await unlink(join(dir, OLD_FILE)).catch(() => undefined);
    await store.#catchUp();
    store.#watch = new FileWatch(store.#file, () => store.#catchUp());
    await store.#watch.prime();
    return store;
  }

  has(sid: string): boolean {
    const expiresAt = this.#revoked.get(sid);
    return expiresAt !== undefined && expiresAt > Date.now();
  }

  async revoke(sid: string, expiresAt: number): Promise<void> {
    if (!LINE.test(`${sid} ${String(expiresAt)}`)) throw new InternalError('RG_ERR_INVALID_ARGUMENT', 'not a session id and expiry');
    this.#revoked.set(sid, expiresAt);
    await this.#lock.run(`ui-sessions:${this.#file}`, () =>
      this.#serially(async () => {
        await this.#readNew();
        await this.#append(`${sid} ${String(expiresAt)}\n`);
        this.#revoked.set(sid, expiresAt);
        if (this.#lines < this.#checkAt) return;
        const live = this.#pruned();
        if (live * 2 < this.#lines) await this.#rewrite();
        this.#checkAt = this.#lines + Math.max(REWRITE_MIN_LINES, live);
      }),
    );
  }

  async close(): Promise<void> {
    await this.#watch?.close();
  }

  /** Drops expired entries; how many are left. */
  #pruned(): number {
    const now = Date.now();
    for (const [sid, expiresAt] of this.#revoked) if (expiresAt <= now) this.#revoked.delete(sid);
    return this.#revoked.size;
  }

  #serially(work: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(work);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Appends one line and fsyncs it; the caller holds the lock and has read the log to its end. */
  async #append(line: string): Promise<void> {
    const created = this.#position === undefined;
    const handle = await open(this.#file, 'a', PRIVATE_FILE_MODE);
    try {
      await handle.write(line);
      await handle.datasync();
      const { ino, size } = await handle.stat({ bigint: true });
      this.#position = { inode: ino, offset: Number(size) };
      this.#lines += 1;
    } finally {
      await handle.close();
    }
    // The log's first line: its name must survive a power cut too.
    if (created) await fsyncDir(dirname(this.#file));
  }

  /** Replaces the log with its live lines; the caller holds the lock. */
  async #rewrite(): Promise<void> {
    const text = [...this.#revoked].map(([sid, expiresAt]) => `${sid} ${String(expiresAt)}\n`).join('');
    await writeFileAtomic(this.#file, text);
    const { ino, size } = await stat(this.#file, { bigint: true });
    this.#position = { inode: ino, offset: Number(size) };
    this.#lines = this.#revoked.size;
  }

  /** Reads what was appended since the last read (all of it when the log was replaced); never throws. */
  #catchUp(): Promise<void> {
    return this.#serially(() =>
      this.#readNew().catch((error: unknown) => {
        this.#logger?.warn(
          { file: this.#file, err: error instanceof Error ? error.message : String(error) },
          'revoked UI sessions unreadable; keeping what was read',
        );
      }),
    );
  }

  async #readNew(): Promise<void> {
    let handle;
    try {
      handle = await open(this.#file, 'r');
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return;
      throw error;
    }
    try {
      const { ino, size } = await handle.stat({ bigint: true });
      const replaced = this.#position === undefined || this.#position.inode !== ino || this.#position.offset > size;
      const start = replaced ? 0 : (this.#position?.offset ?? 0);
      if (replaced) {
        // A rewrite: what it left out had expired.
        this.#lines = 0;
        this.#revoked.clear();
      }
      const length = Number(size) - start;
      if (length <= 0) {
        this.#position = { inode: ino, offset: start };
        return;
      }
      const { buffer, bytesRead } = await handle.read(Buffer.alloc(length), 0, length, start);
      // A line being appended right now is read next time, whole.
      const complete = buffer.subarray(0, bytesRead).lastIndexOf(0x0a) + 1;
      this.#take(buffer.subarray(0, complete).toString('utf8'));
      this.#position = { inode: ino, offset: start + complete };
      if (replaced) this.#checkAt = this.#lines + Math.max(REWRITE_MIN_LINES, this.#revoked.size);
    } finally {
      await handle.close();
    }
  }

  #take(text: string): void {
    const now = Date.now();
    for (const line of text.split('\n')) {
      if (line === '') continue;
      this.#lines += 1;
      const match = LINE.exec(line);
      if (!match) continue;
      const expiresAt = Number(match[2]);
      if (expiresAt > now) this.#revoked.set(match[1] as string, expiresAt);
    }
  }
}
