/**
 * Groups from an Apache AuthGroupFile (the `auth_basic`/`AuthGroupFile` companion of htpasswd):
 *
 *   # comment
 *   pushers: alice bob
 *   admins: alice "john smith"
 *
 * One `group: member member…` per line; members are separated by white space and may be quoted
 * ("…" or '…', backslash escapes the next character) as in Apache's ap_getword_conf. A group on
 * several lines gets the union of them, as in mod_authz_groupfile. `#` lines and blank lines are
 * ignored; a line that cannot be used is skipped with a reason naming its line number.
 *
 * The file is re-read when it changes, like the htpasswd file: fs.watch on the directory (which
 * survives atomic replace by rename) plus a stat poll every second where watching does not work.
 * A reload that fails keeps the last good copy and logs why, once per distinct failure.
 */
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Logger } from 'pino';

export interface ParsedGroupFile {
  /** Group → members, in file order, without duplicates. */
  readonly groups: ReadonlyMap<string, readonly string[]>;
  readonly skipped: ReadonlyArray<{ readonly line: number; readonly reason: string }>;
}

// C0 controls, DEL and C1 controls.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

export function parseGroupFile(text: string): ParsedGroupFile {
  const groups = new Map<string, string[]>();
  const skipped: Array<{ line: number; reason: string }> = [];
  text
    .replace(/^\uFEFF/, '')
    .split('\n')
    .forEach((raw, index) => {
      const line = index + 1;
      const content = (raw.endsWith('\r') ? raw.slice(0, -1) : raw).trim();
      if (content === '' || content.startsWith('#')) return;
      const colon = content.indexOf(':');
      if (colon < 0) {
        skipped.push({ line, reason: 'no colon after the group name' });
        return;
      }
      const group = content.slice(0, colon).trim();
      if (group === '' || /\s/.test(group) || CONTROL.test(group)) {
        skipped.push({ line, reason: group === '' ? 'empty group name' : 'white space or control character in the group name' });
        return;
      }
      const words = splitWords(content.slice(colon + 1));
      if (words === undefined) {
        skipped.push({ line, reason: 'unterminated quote' });
        return;
      }
      const members = groups.get(group) ?? [];
      for (const word of words) {
        if (word === '' || CONTROL.test(word)) continue;
        if (!members.includes(word)) members.push(word);
      }
      groups.set(group, members);
    });
  return { groups, skipped };
}

/** White-space separated words; quotes group, backslash escapes. Undefined on an unterminated quote. */
function splitWords(text: string): string[] | undefined {
  const words: string[] = [];
  let index = 0;
  while (index < text.length) {
    while (index < text.length && /\s/.test(text[index] as string)) index += 1;
    if (index >= text.length) break;
    const quote = text[index];
    let word = '';
    if (quote === '"' || quote === "'") {
      index += 1;
      let closed = false;
      while (index < text.length) {
        const char = text[index] as string;
        if (char === '\\' && index + 1 < text.length) {
          word += text[index + 1];
          index += 2;
        } else if (char === quote) {
          index += 1;
          closed = true;
          break;
        } else {
          word += char;
          index += 1;
        }
      }
      if (!closed) return undefined;
    } else {
      while (index < text.length && !/\s/.test(text[index] as string)) {
        word += text[index];
        index += 1;
      }
    }
    words.push(word);
  }
  return words;
}

export interface GroupFileOptions {
  readonly file: string;
  readonly logger: Logger;
  /** Stat poll interval; default 1000 ms. */
  readonly pollIntervalMs?: number;
  /** Also fs.watch the directory (changes seen at once instead of at the next poll); default true. */
  readonly watch?: boolean;
}

interface Snapshot {
  readonly groups: ReadonlyMap<string, readonly string[]>;
  /** User → groups, in file order. */
  readonly byUser: ReadonlyMap<string, readonly string[]>;
  readonly digest: string;
}

const EMPTY: readonly string[] = Object.freeze([]);
const WATCH_DEBOUNCE_MS = 50;

export class GroupFile {
  /** Absolute path of the file. */
  readonly path: string;
  private readonly logger: Logger;
  private snapshot: Snapshot = { groups: new Map(), byUser: new Map(), digest: '' };
  private signature = '';
  private lastFailure: string | undefined;
  private readonly listeners = new Set<() => void>();
  private watcher: FSWatcher | undefined;
  private poll: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;
  private recheck = false;
  private closed = false;

  /** Loads the file (throwing a clear error if it cannot be read) and starts watching it. */
  static async open(options: GroupFileOptions): Promise<GroupFile> {
    const file = new GroupFile(options);
    try {
      await file.load();
    } catch (error) {
      throw new Error(`cannot load group file ${file.path}: ${describe(error)}`);
    }
    file.startWatching(options.pollIntervalMs ?? 1000, options.watch ?? true);
    return file;
  }

  private constructor(options: GroupFileOptions) {
    this.path = resolve(options.file);
    this.logger = options.logger;
  }

  /** The groups `user` is a member of (exact, case-sensitive name match as in Apache). */
  groupsOf(user: string): readonly string[] {
    return this.snapshot.byUser.get(user) ?? EMPTY;
  }

  /** Group → members of the current copy. */
  get groups(): ReadonlyMap<string, readonly string[]> {
    return this.snapshot.groups;
  }

  /** Called after the groups changed. Returns a function that removes the listener. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Re-reads the file now if it changed (SIGHUP); a failure is logged and the old copy kept. */
  reload(): Promise<void> {
    return this.check();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.watcher?.close();
    clearInterval(this.poll);
    clearTimeout(this.debounce);
    this.listeners.clear();
    await this.checking;
  }

  private startWatching(pollIntervalMs: number, useWatch: boolean): void {
    this.poll = setInterval(() => void this.check(), pollIntervalMs).unref();
    if (!useWatch) return;
    try {
      this.watcher = watch(dirname(this.path), { persistent: false }, () => {
        if (this.debounce) return;
        this.debounce = setTimeout(() => {
          this.debounce = undefined;
          void this.check();
        }, WATCH_DEBOUNCE_MS).unref();
      });
      this.watcher.on('error', (error) => {
        this.logger.debug({ file: this.path, err: describe(error) }, 'group file directory watch stopped; polling only');
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch (error) {
      this.logger.debug({ file: this.path, err: describe(error) }, 'cannot watch the group file directory; polling only');
    }
  }

  /** Runs one check at a time; a request during a check runs another one after it. */
  private check(): Promise<void> {
    if (this.checking) {
      this.recheck = true;
      return this.checking;
    }
    this.checking = (async () => {
      do {
        this.recheck = false;
        if (this.closed) return;
        try {
          await this.load();
          if (this.lastFailure !== undefined) this.logger.info({ file: this.path }, 'group file readable again');
          this.lastFailure = undefined;
        } catch (error) {
          const reason = describe(error);
          if (reason !== this.lastFailure) {
            this.logger.warn({ file: this.path, err: reason }, 'group file reload failed; keeping the last good copy');
          }
          this.lastFailure = reason;
        }
      } while (this.recheck);
    })().finally(() => {
      this.checking = undefined;
    });
    return this.checking;
  }

  private async load(): Promise<void> {
    const stats = await stat(this.path, { bigint: true });
    const signature = `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeNs}:${stats.ctimeNs}`;
    if (signature === this.signature) return;
    if (!stats.isFile()) throw new Error('not a regular file');
    const content = await readFile(this.path);
    this.signature = signature;
    const digest = createHash('sha256').update(content).digest('hex');
    if (digest === this.snapshot.digest) return;
    const first = this.snapshot.digest === '';
    const parsed = parseGroupFile(content.toString('utf8'));
    for (const { line, reason } of parsed.skipped) {
      this.logger.warn({ file: this.path, line, reason }, `group file line ${line} skipped: ${reason}`);
    }
    this.snapshot = { groups: freezeGroups(parsed.groups), byUser: membership(parsed.groups), digest };
    this.logger.info({ file: this.path, groups: parsed.groups.size }, first ? 'group file loaded' : 'group file reloaded');
    if (!first) this.notify();
  }

  private notify(): void {
    for (const listener of this.listeners) {
      try {
        listener();
      } catch (error) {
        this.logger.error({ err: describe(error) }, 'group file change listener failed');
      }
    }
  }
}

function freezeGroups(groups: ReadonlyMap<string, readonly string[]>): ReadonlyMap<string, readonly string[]> {
  return new Map([...groups].map(([group, members]) => [group, Object.freeze([...members])]));
}

function membership(groups: ReadonlyMap<string, readonly string[]>): ReadonlyMap<string, readonly string[]> {
  const byUser = new Map<string, string[]>();
  for (const [group, members] of groups) {
    for (const member of members) {
      const list = byUser.get(member) ?? [];
      list.push(group);
      byUser.set(member, list);
    }
  }
  return new Map([...byUser].map(([user, list]) => [user, Object.freeze(list)]));
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
