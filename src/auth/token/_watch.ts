/**
 * Noticing that a file changed, for the stores the running server re-reads (robots, signing
 * keys): fs.watch on the directory (which sees an atomic replace by rename) plus a stat poll every
 * second for filesystems where watching does not work. Either one only triggers a stat; `onChange`
 * runs when the file's inode, size, mtime or ctime changed (or it appeared or vanished), one run
 * at a time, and again if something changed during a run.
 */
import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';

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

  /** Stats the file now and runs `onChange` if it changed. */
  check(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        if (this.closed) return;
        const signature = await signatureOf(this.path);
        if (signature === this.signature) continue;
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
