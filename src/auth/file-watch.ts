/**
 * Noticing that a file changed, for the stores the running server re-reads (htpasswd, group
 * file, robots, signing keys): fs.watch on the directory (which sees an atomic replace by rename) plus a stat poll every
 * second for filesystems where watching does not work. Either one only triggers a stat; `onChange`
 * runs when the file's inode, size, mtime or ctime changed (or it appeared or vanished), one run
 * at a time, and again if something changed during a run.
 */
import { watch, type FSWatcher } from 'node:fs';
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, resolve as resolvePath } from 'node:path';

export interface FileWatchOptions {
  /** Stat poll interval; default 1000 ms. */
  readonly pollIntervalMs?: number;
  /** Also watch the directory for quicker reloads; default true. */
  readonly watch?: boolean;
}

const DEBOUNCE_MS = 50;

async function signatureOf(path: string): Promise<string> {
  try {
    const stats = await stat(path, { bigint: true });
    return `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeNs}:${stats.ctimeNs}`;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? 'missing' : `error:${code ?? 'unknown'}`;
  }
}

export class FileWatch {
  private signature: string | undefined;
  private poll: NodeJS.Timeout | undefined;
  private watcher: FSWatcher | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private forced = false;
  private closed = false;

  /** `onChange` must not throw (it keeps the last good copy and logs on failure itself). */
  constructor(
    private readonly path: string,
    private readonly onChange: () => Promise<void>,
    options: FileWatchOptions = {},
  ) {
    this.poll = setInterval(() => void this.check(), options.pollIntervalMs ?? 1000).unref();
    if (options.watch === false) return;
    try {
      const name = basename(path);
      this.watcher = watch(dirname(path), { persistent: false }, (_event, file) => {
        if (file !== null && file !== name && !String(file).startsWith(`.${name}.`)) return;
        if (this.debounce) return;
        this.debounce = setTimeout(() => {
          this.debounce = undefined;
          void this.check();
        }, DEBOUNCE_MS).unref();
      });
      this.watcher.on('error', () => {
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch {
      // Polling alone still notices every change within a second.
    }
  }

  /** Records the current state as seen (call after the initial load). */
  async prime(): Promise<void> {
    this.signature = await signatureOf(this.path);
  }

  /**
   * Stats the file now and runs `onChange` if it changed; `force` runs it whatever the stat says
   * (another replica saw the file change: on a network filesystem this replica's stat may be stale,
   * while opening the file reads it afresh).
   */
  check(force = false): Promise<void> {
    if (force) this.forced = true;
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        if (this.closed) return;
        const signature = await signatureOf(this.path);
        const forced = this.forced;
        this.forced = false;
        if (signature === this.signature && !forced) continue;
        this.signature = signature;
        await this.onChange();
      } while (this.again);
    })().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.poll);
    clearTimeout(this.debounce);
    this.watcher?.close();
    await this.running;
  }
}

export interface WatchedFileOptions<T> extends FileWatchOptions {
  readonly file: string;
  /** What the file is, for messages: `htpasswd file`, `group file`. */
  readonly what: string;
  readonly logger: import('pino').Logger;
  /** Turns the file's bytes into the in-memory copy; throws when they are unusable. `mode` is the file's permission bits. */
  parse(content: Buffer, context: { first: boolean; mode: number }): T;
  /**
   * What is in force while the file is missing or cannot be read (gone, unreadable, not a regular
   * file), made from the last good copy; `meaning` says what that means, for the log line. Without
   * it, the last good copy stays in force.
   */
  readonly whenUnreadable?: { readonly value: (lastGood: T) => T; readonly meaning: string };
}

/**
 * A read-mostly file kept in memory: loaded once (start-up fails with a clear error when it cannot
 * be), then re-read whenever it changes. Content that fails to parse keeps what is in force and
 * logs why, once per distinct failure. A file that cannot be read keeps the last good copy too,
 * unless `whenUnreadable` says what holds instead until the file is back (credentials: nobody).
 * Listeners hear of every change of what is in force.
 */
export class WatchedFile<T> {
  readonly path: string;
  #current: T;
  #lastGood: T;
  #digest: string;
  #unreadable = false;
  #lastFailure: string | undefined;
  readonly #listeners = new Set<() => void>();
  readonly #options: WatchedFileOptions<T>;
  readonly #watch: FileWatch;

  static async open<T>(options: WatchedFileOptions<T>): Promise<WatchedFile<T>> {
    const path = resolvePath(options.file);
    let loaded: { value: T; digest: string };
    try {
      const read = await readContent(path);
      loaded = { value: options.parse(read.content, { first: true, mode: read.mode }), digest: read.digest };
    } catch (error) {
      throw new Error(`cannot load ${options.what} ${path}: ${describeError(error)}`);
    }
    const file = new WatchedFile(path, options, loaded.value, loaded.digest);
    await file.#watch.prime();
    return file;
  }

  private constructor(path: string, options: WatchedFileOptions<T>, value: T, digest: string) {
    this.path = path;
    this.#options = options;
    this.#current = value;
    this.#lastGood = value;
    this.#digest = digest;
    this.#watch = new FileWatch(path, () => this.#refresh(), options);
  }

  /** What is in force: the last good copy, or what `whenUnreadable` made of it while the file cannot be read. */
  get current(): T {
    return this.#current;
  }

  /** Called after what is in force changed. Returns a function that removes the listener. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Re-reads the file now if it changed (SIGHUP); with `force`, re-reads it whatever its stat says. */
  reload(force = false): Promise<void> {
    return this.#watch.check(force);
  }

  async close(): Promise<void> {
    this.#listeners.clear();
    await this.#watch.close();
  }

  async #refresh(): Promise<void> {
    const { logger, what } = this.#options;
    let read: FileContent;
    try {
      read = await readContent(this.path);
    } catch (error) {
      this.#cannotRead(describeError(error));
      return;
    }
    const wasUnreadable = this.#unreadable;
    this.#unreadable = false;
    if (this.#lastFailure !== undefined) logger.info({ file: this.path }, `${what} readable again`);
    this.#lastFailure = undefined;
    if (read.digest === this.#digest) {
      if (wasUnreadable) this.#enforce(this.#lastGood);
      return;
    }
    let value: T;
    try {
      value = this.#options.parse(read.content, { first: false, mode: read.mode });
    } catch (error) {
      // Unusable content changes nothing: what is in force (the last good copy, or nobody while it was unreadable) stays.
      this.#unreadable = wasUnreadable;
      const reason = describeError(error);
      if (reason !== this.#lastFailure)
        logger.warn(
          { file: this.path, err: reason },
          `${what} reload failed; keeping ${wasUnreadable ? 'what holds while it cannot be read' : 'the last good copy'}`,
        );
      this.#lastFailure = reason;
      return;
    }
    this.#lastGood = value;
    this.#digest = read.digest;
    this.#enforce(value);
  }

  #cannotRead(reason: string): void {
    const { logger, what, whenUnreadable } = this.#options;
    if (reason !== this.#lastFailure) {
      const consequence = whenUnreadable ? whenUnreadable.meaning : 'keeping the last good copy';
      logger.warn({ file: this.path, err: reason }, `${what} cannot be read; ${consequence}`);
    }
    this.#lastFailure = reason;
    if (!whenUnreadable || this.#unreadable) return;
    this.#unreadable = true;
    this.#enforce(whenUnreadable.value(this.#lastGood));
  }

  #enforce(value: T): void {
    this.#current = value;
    for (const listener of this.#listeners) {
      try {
        listener();
      } catch (error) {
        this.#options.logger.error({ err: describeError(error) }, `${this.#options.what} change listener failed`);
      }
    }
  }
}

interface FileContent {
  readonly content: Buffer;
  readonly digest: string;
  readonly mode: number;
}

/** The file's bytes; throws when it is missing, unreadable or not a regular file. */
async function readContent(path: string): Promise<FileContent> {
  const stats = await stat(path);
  if (!stats.isFile()) throw new Error('not a regular file');
  const content = await readFile(path);
  return { content, digest: createHash('sha256').update(content).digest('hex'), mode: stats.mode };
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
