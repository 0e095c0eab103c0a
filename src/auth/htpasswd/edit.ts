/**
 * Editing an htpasswd file for the `htpasswd` command: every line we do not change is kept byte for
 * byte (comments, unknown formats, its own line terminator), and the file is replaced atomically,
 * never readable by other users.
 */
import { readFile } from 'node:fs/promises';
import bcrypt from 'bcrypt';
import { writeFileAtomic } from '../../lib/atomic-write.js';
import { errnoCode } from '../../lib/errno.js';
import { PRIVATE_FILE_MODE } from '../../lib/file-modes.js';
import { parseHtpasswdLine } from './file.js';
import { InternalError } from '../../lib/internal-errors.js';

export const MIN_BCRYPT_COST = 4;
export const MAX_BCRYPT_COST = 17;
/** bcrypt reads only this many bytes of a password; more would be silently ignored. */
export const BCRYPT_MAX_PASSWORD_BYTES = 72;

interface Line {
  /** Text without its terminator. */
  text: string;
  /** `\n`, `\r\n` or '' (last line without one). */
  eol: string;
}

export interface DocumentUser {
  readonly user: string;
  readonly line: number;
  readonly hash: string;
}

export class HtpasswdDocument {
  private constructor(private readonly lines: Line[]) {}

  static parse(text: string): HtpasswdDocument {
    const lines: Line[] = [];
    const pattern = /(?<text>[^\n]*?)(?<eol>\r?\n|$)/gy;
    let match: RegExpExecArray | null;
    while (pattern.lastIndex < text.length && (match = pattern.exec(text)) !== null) {
      const { text: lineText = '', eol = '' } = match.groups ?? {};
      lines.push({ text: lineText, eol });
    }
    return new HtpasswdDocument(lines);
  }

  /** Every user line, in file order (duplicates and unusable hashes included). */
  users(): DocumentUser[] {
    const users: DocumentUser[] = [];
    this.lines.forEach(({ text }, index) => {
      const parsed = parseHtpasswdLine(text);
      if (parsed.kind === 'user') users.push({ user: parsed.user, line: index + 1, hash: parsed.hash });
    });
    return users;
  }

  /** Replaces the user's first line (the one servers use), or appends one. */
  setHash(user: string, hash: string): 'added' | 'updated' {
    const index = this.lines.findIndex(({ text }) => isLineOf(text, user));
    if (index >= 0) {
      const line = this.lines[index] as Line;
      line.text = (line.text.startsWith('\uFEFF') ? '\uFEFF' : '') + `${user}:${hash}`;
      return 'updated';
    }
    const last = this.lines.at(-1);
    const eol = this.lines.find((line) => line.eol !== '')?.eol ?? '\n';
    if (last && last.eol === '') last.eol = eol;
    this.lines.push({ text: `${user}:${hash}`, eol });
    return 'added';
  }

  /** Removes every line of the user; returns how many there were. */
  remove(user: string): number {
    const before = this.lines.length;
    const kept = this.lines.filter(({ text }) => !isLineOf(text, user));
    this.lines.splice(0, this.lines.length, ...kept);
    return before - kept.length;
  }

  toString(): string {
    return this.lines.map(({ text, eol }) => text + eol).join('');
  }
}

function isLineOf(text: string, user: string): boolean {
  const parsed = parseHtpasswdLine(text);
  return parsed.kind === 'user' && parsed.user === user;
}

/** A new bcrypt hash, written as `$2y$` like Apache's htpasswd (accepted by Apache, nginx and us). */
export async function hashPasswordBcrypt(password: string, cost: number): Promise<string> {
  const hash = await bcrypt.hash(password, cost);
  return '$2y$' + hash.slice(4);
}

/** The file's text, or undefined if it does not exist. Refuses text that is not UTF-8, since a
 *  rewrite would corrupt it. */
export async function readHtpasswdText(path: string): Promise<string | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw error;
  }
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new InternalError('RG_ERR_FILE_INVALID', `${path} is not UTF-8 text`);
  }
}

/**
 * Replaces the htpasswd file at `path` with `content` atomically (lib/atomic-write.ts), following a
 * symlink to the real file. The file is always mode 0600: a password file is for its owner only.
 * When run as root it keeps its owner and group, so a server running as that owner can still read
 * what root wrote.
 */
export function writeHtpasswdFile(path: string, content: string): Promise<void> {
  return writeFileAtomic(path, content, { mode: PRIVATE_FILE_MODE, followSymlink: true, keepOwner: true });
}
