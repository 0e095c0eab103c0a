/**
 * The one watched-file mechanism: the stores the running server re-reads when their file changes
 * (htpasswd, group file, robots, signing keys, the TLS pair; also the config file and the UI's
 * revoked sessions).
 *
 * FileWatch notices a change: fs.watch on the folder (which sees an atomic replace by rename) plus
 * a stat poll every second for filesystems where watching does not work. Either one only triggers a
 * stat; `onChange` runs when a file's inode, size, mtime or ctime changed (or it appeared or
 * vanished), one run at a time, and again if something changed during a run.
 *
 * WatchedFile keeps the last good copy: see below.
 */
import { watch, type FSWatcher } from 'node:fs';
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, resolve as resolvePath } from 'node:path';
import type { Logger } from 'pino';
import { errnoCode } from './errno.js';
import { InternalError, internalErrorCode } from './internal-errors.js';

export interface FileWatchOptions {
  /** Stat poll interval; default 1000 ms. */
  readonly pollIntervalMs?: number;
  /** Also watch the folder for quicker reloads; default true. */
  readonly watch?: boolean;
  /** Poll at all; default true. False (and `watch: false`): the file is re-read only when asked. */
  readonly poll?: boolean;
}

const DEBOUNCE_MS = 50;

async function signatureOf(path: string): Promise<string> {
  try {
    const stats = await stat(path, { bigint: true });
    return `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeNs}:${stats.ctimeNs}`;
  } catch (error) {
    const code = errnoCode(error);
    return code === 'ENOENT' ? 'missing' : `error:${code ?? 'unknown'}`;
  }
}

async function signatureOfAll(paths: readonly string[]): Promise<string> {
  return (await Promise.all(paths.map(signatureOf))).join('|');
}

export class FileWatch {
  private signature: string | undefined;
  private poll: NodeJS.Timeout | undefined;
  private readonly watchers = new Set<FSWatcher>();
  private debounce: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private forced = false;
  private closed = false;

  private readonly paths: readonly string[];

  /** `onChange` must not throw (it keeps the last good copy and logs on failure itself). */
  constructor(
    path: string | readonly string[],
    private readonly onChange: () => Promise<void>,
    options: FileWatchOptions = {},
  ) {
    this.paths = typeof path === 'string' ? [path] : path;
    if (options.poll !== false) this.poll = setInterval(() => void this.check(), options.pollIntervalMs ?? 1000).unref();
    if (options.watch === false) return;
    for (const folder of new Set(this.paths.map((file) => dirname(file)))) this.watchFolder(folder);
  }

  private watchFolder(folder: string): void {
    const names = this.paths.filter((file) => dirname(file) === folder).map((file) => basename(file));
    try {
      const watcher = watch(folder, { persistent: false }, (_event, file) => {
        if (file !== null && !names.some((name) => file === name || file.startsWith(`.${name}.`))) return;
        if (this.debounce) return;
        this.debounce = setTimeout(() => {
          this.debounce = undefined;
          void this.check();
        }, DEBOUNCE_MS).unref();
      });
      watcher.on('error', () => {
        watcher.close();
        this.watchers.delete(watcher);
      });
      this.watchers.add(watcher);
    } catch {
      // Polling alone still notices every change within a second.
    }
  }

  /** Records the current state as seen (call after the initial load). */
  async prime(): Promise<void> {
    this.signature = await signatureOfAll(this.paths);
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
    this.again = true;
    this.running = (async () => {
      while (this.takeAgain()) {
        if (this.closed) return;
        const signature = await signatureOfAll(this.paths);
        const forced = this.forced;
        this.forced = false;
        if (signature === this.signature && !forced) continue;
        this.signature = signature;
        await this.onChange();
      }
    })().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Whether another run was asked for (and forgets that it was). */
  private takeAgain(): boolean {
    const again = this.again;
    this.again = false;
    return again;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.poll);
    clearTimeout(this.debounce);
    for (const watcher of this.watchers) watcher.close();
    this.watchers.clear();
    await this.running;
  }
}

export interface ParseContext {
  /** True for the load at start-up (a failure then fails the start). */
  readonly first: boolean;
  /** The file's permission bits. */
  readonly mode: number;
  /** The bytes of the `companions`, in their order. */
  readonly companions: readonly Buffer[];
}

export interface WatchedFileOptions<T> extends FileWatchOptions {
  readonly file: string;
  /** Files read and watched together with `file` (a TLS key beside its certificate); any of them changing re-reads all. */
  readonly companions?: readonly string[];
  /** What the file is, for messages: `htpasswd file`, `group file`. */
  readonly what: string;
  readonly logger?: Logger;
  /** Turns the file's bytes into the in-memory copy; throws (or rejects) when they are unusable. */
  parse(content: Buffer, context: ParseContext): T | Promise<T>;
  /**
   * What is in force while the file is missing or cannot be read (gone, unreadable, not a regular
   * file), made from the last good copy; `meaning` says what that means, for the log line. Without
   * it, the last good copy stays in force.
   */
  readonly whenUnreadable?: { readonly value: (lastGood: T) => T; readonly meaning: string };
  /** What a missing file (ENOENT) means, at start-up too: a store that is empty until it is created. */
  readonly whenMissing?: () => T;
  /** How the log names what is kept on a failure; default `the last good copy`. */
  readonly lastGoodName?: string;
  /** The level of the line that says a reload failed; default `warn`. */
  readonly failureLevel?: 'warn' | 'error';
}

const MISSING = 'missing';

/**
 * A read-mostly file kept in memory: loaded once (start-up fails with a clear error when it cannot
 * be), then re-read whenever it changes. Content that fails to parse keeps what is in force and
 * logs why, once per distinct failure. A file that cannot be read keeps the last good copy too,
 * unless `whenUnreadable` says what holds instead until the file is back (credentials: nobody), or
 * it is missing and `whenMissing` says what a missing file means. Listeners hear of every change of
 * what is in force.
 */
export class WatchedFile<T> {
  readonly path: string;
  #current: T;
  #lastGood: T;
  #digest: string;
  #unreadable = false;
  /** The reason last logged, so that a failure repeating itself is logged once. */
  #lastFailure: string | undefined;
  /** Whether that failure was reading the file (not its content). */
  #readFailed = false;
  readonly #listeners = new Set<() => void>();
  readonly #options: WatchedFileOptions<T>;
  readonly #paths: readonly string[];
  readonly #watch: FileWatch;

  static async open<T>(options: WatchedFileOptions<T>): Promise<WatchedFile<T>> {
    const path = resolvePath(options.file);
    const paths = [path, ...(options.companions ?? []).map((companion) => resolvePath(companion))];
    let loaded: { value: T; digest: string };
    try {
      const read = await readContent(paths, options.whenMissing !== undefined);
      loaded = { value: await valueOf(read, options, true), digest: read === MISSING ? MISSING : read.digest };
    } catch (error) {
      throw new InternalError('RG_ERR_FILE_LOAD_FAILED', `cannot load ${options.what} ${path}: ${describeError(error)}`, { cause: error });
    }
    const file = new WatchedFile(paths, options, loaded.value, loaded.digest);
    await file.#watch.prime();
    return file;
  }

  private constructor(paths: readonly string[], options: WatchedFileOptions<T>, value: T, digest: string) {
    this.path = paths[0] ?? '';
    this.#paths = paths;
    this.#options = options;
    this.#current = value;
    this.#lastGood = value;
    this.#digest = digest;
    this.#watch = new FileWatch(paths, () => this.#refresh(), options);
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
    let read: FileContent | typeof MISSING;
    try {
      read = await readContent(this.#paths, this.#options.whenMissing !== undefined);
    } catch (error) {
      this.#cannotRead(error);
      return;
    }
    const wasUnreadable = this.#unreadable;
    this.#unreadable = false;
    if (this.#readFailed) {
      logger?.info({ file: this.path }, `${what} readable again`);
      this.#readFailed = false;
      this.#lastFailure = undefined;
    }
    const digest = read === MISSING ? MISSING : read.digest;
    if (digest === this.#digest) {
      this.#lastFailure = undefined;
      if (wasUnreadable) this.#enforce(this.#lastGood);
      return;
    }
    let value: T;
    try {
      value = await valueOf(read, this.#options, false);
    } catch (error) {
      // Unusable content changes nothing: what is in force (the last good copy, or nobody while it was unreadable) stays.
      this.#unreadable = wasUnreadable;
      const reason = describeError(error);
      if (reason !== this.#lastFailure) {
        const kept = wasUnreadable ? 'what holds while it cannot be read' : (this.#options.lastGoodName ?? 'the last good copy');
        const line = { file: this.path, err: reason, code: internalErrorCode(error) ?? 'RG_ERR_FILE_INVALID' };
        logger?.[this.#options.failureLevel ?? 'warn'](line, `${what} reload failed; keeping ${kept}`);
      }
      this.#lastFailure = reason;
      return;
    }
    this.#lastFailure = undefined;
    this.#lastGood = value;
    this.#digest = digest;
    this.#enforce(value);
  }

  #cannotRead(error: unknown): void {
    const { logger, what, whenUnreadable } = this.#options;
    const reason = describeError(error);
    if (reason !== this.#lastFailure) {
      const consequence = whenUnreadable ? whenUnreadable.meaning : `keeping ${this.#options.lastGoodName ?? 'the last good copy'}`;
      const line = { file: this.path, err: reason, code: internalErrorCode(error) ?? 'RG_ERR_FILE_UNREADABLE' };
      logger?.[this.#options.failureLevel ?? 'warn'](line, `${what} cannot be read; ${consequence}`);
    }
    this.#lastFailure = reason;
    this.#readFailed = true;
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
        this.#options.logger?.error({ err: describeError(error) }, `${this.#options.what} change listener failed`);
      }
    }
  }
}

interface FileContent {
  readonly content: Buffer;
  readonly companions: readonly Buffer[];
  readonly digest: string;
  readonly mode: number;
}

/**
 * The files' bytes (the first one's mode); MISSING when the first file does not exist and that is
 * allowed; throws when a file is missing, unreadable or not a regular file.
 */
async function readContent(paths: readonly string[], missingAllowed: boolean): Promise<FileContent | typeof MISSING> {
  const hash = createHash('sha256');
  const contents: Buffer[] = [];
  let mode = 0;
  for (const [index, path] of paths.entries()) {
    let stats;
    try {
      stats = await stat(path);
    } catch (error) {
      if (index === 0 && missingAllowed && errnoCode(error) === 'ENOENT') return MISSING;
      throw error;
    }
    if (!stats.isFile())
      throw new InternalError('RG_ERR_FILE_UNREADABLE', paths.length === 1 ? 'not a regular file' : `${path} is not a regular file`);
    if (index === 0) mode = stats.mode;
    const content = await readFile(path);
    hash.update(`${content.length}:`).update(content);
    contents.push(content);
  }
  const [content = Buffer.alloc(0), ...companions] = contents;
  return { content, companions, digest: hash.digest('hex'), mode };
}

/** What the file's content, or its absence, stands for. */
function valueOf<T>(read: FileContent | typeof MISSING, options: WatchedFileOptions<T>, first: boolean): T | Promise<T> {
  if (read !== MISSING) return options.parse(read.content, { first, mode: read.mode, companions: read.companions });
  // readContent answers MISSING only when whenMissing is given.
  if (!options.whenMissing) throw new InternalError('RG_ERR_FILE_UNREADABLE', 'the file does not exist');
  return options.whenMissing();
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
