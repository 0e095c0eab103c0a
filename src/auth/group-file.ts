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
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { WatchedFile } from '../lib/watched-file.js';

export interface ParsedGroupFile {
  /** Group → members, in file order, without duplicates. */
  readonly groups: ReadonlyMap<string, readonly string[]>;
  readonly skipped: ReadonlyArray<{ readonly line: number; readonly reason: string }>;
}

// C0 controls, DEL and C1 controls.
const CONTROL = /\p{Cc}/u;

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
        const char = text.charAt(index);
        if (char === '\\' && index + 1 < text.length) {
          word += text.charAt(index + 1);
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
      while (index < text.length && !/\s/.test(text.charAt(index))) {
        word += text.charAt(index);
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
}

const EMPTY: readonly string[] = Object.freeze([]);

export class GroupFile {
  readonly #file: WatchedFile<Snapshot>;

  /** Loads the file (throwing a clear error if it cannot be read) and starts watching it. */
  static async open(options: GroupFileOptions): Promise<GroupFile> {
    const { logger } = options;
    const file = await WatchedFile.open<Snapshot>({
      file: options.file,
      what: 'group file',
      logger,
      ...(options.pollIntervalMs !== undefined ? { pollIntervalMs: options.pollIntervalMs } : {}),
      ...(options.watch !== undefined ? { watch: options.watch } : {}),
      parse(content, { first }) {
        const path = resolve(options.file);
        const parsed = parseGroupFile(content.toString('utf8'));
        for (const { line, reason } of parsed.skipped)
          logger.warn({ file: path, line, reason }, `group file line ${line} skipped: ${reason}`);
        logger.info({ file: path, groups: parsed.groups.size }, first ? 'group file loaded' : 'group file reloaded');
        return { groups: freezeGroups(parsed.groups), byUser: membership(parsed.groups) };
      },
    });
    return new GroupFile(file);
  }

  private constructor(file: WatchedFile<Snapshot>) {
    this.#file = file;
  }

  /** Absolute path of the file. */
  get path(): string {
    return this.#file.path;
  }

  /** The groups `user` is a member of (exact, case-sensitive name match as in Apache). */
  groupsOf(user: string): readonly string[] {
    return this.#file.current.byUser.get(user) ?? EMPTY;
  }

  /** Group → members of the current copy. */
  get groups(): ReadonlyMap<string, readonly string[]> {
    return this.#file.current.groups;
  }

  /** Called after the groups changed. Returns a function that removes the listener. */
  onChange(listener: () => void): () => void {
    return this.#file.onChange(listener);
  }

  /** Re-reads the file now if it changed (SIGHUP), or whatever its stat says with `force`; a failure is logged and the old copy kept. */
  reload(force = false): Promise<void> {
    return this.#file.reload(force);
  }

  close(): Promise<void> {
    return this.#file.close();
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
