/**
 * The htpasswd file format: one `user:hash` per line (anything after a second colon is ignored,
 * as Apache does), `#` comments, blank lines, CRLF or LF. A line that cannot be used is skipped
 * with a reason naming its line number, never its hash. When a user appears twice only the first
 * line counts (even if its hash is unusable), as in Apache and nginx.
 */
import { classifyHash, isSupported, type ParsedHash } from './formats.js';

export interface HtpasswdEntry {
  readonly user: string;
  /** 1-based line number. */
  readonly line: number;
  readonly hash: ParsedHash;
}

export interface SkippedLine {
  readonly line: number;
  readonly reason: string;
}

export interface ParsedHtpasswd {
  readonly entries: ReadonlyMap<string, HtpasswdEntry>;
  readonly skipped: readonly SkippedLine[];
}

export type HtpasswdLine =
  | { readonly kind: 'ignored' }
  | { readonly kind: 'invalid'; readonly reason: string }
  | { readonly kind: 'user'; readonly user: string; readonly hash: string };

// C0 controls and DEL, and the C1 range: never part of a user name anyone can type.
const CONTROL = /\p{Cc}/u;

/** Whether `user` can be written to and found in an htpasswd file and sent by Basic auth. */
export function isValidUserName(user: string): boolean {
  return user !== '' && !user.includes(':') && !CONTROL.test(user) && user.trim() === user && !user.startsWith('#');
}

/** Classifies one line (without its line terminator). */
export function parseHtpasswdLine(raw: string): HtpasswdLine {
  const line = raw.replace(/^\uFEFF/, '').trim();
  if (line === '' || line.startsWith('#')) return { kind: 'ignored' };
  const colon = line.indexOf(':');
  if (colon < 0) return { kind: 'invalid', reason: 'no colon between user and hash' };
  const user = line.slice(0, colon);
  if (user === '') return { kind: 'invalid', reason: 'empty user name' };
  if (CONTROL.test(user)) return { kind: 'invalid', reason: 'control character in user name' };
  const rest = line.slice(colon + 1);
  const end = rest.indexOf(':');
  return { kind: 'user', user, hash: (end < 0 ? rest : rest.slice(0, end)).trim() };
}

/** Splits on LF, tolerating CRLF; the line terminators are not part of the lines. */
export function splitLines(text: string): string[] {
  return text.split('\n').map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line));
}

export function parseHtpasswd(text: string): ParsedHtpasswd {
  const entries = new Map<string, HtpasswdEntry>();
  const firstLine = new Map<string, number>();
  const skipped: SkippedLine[] = [];
  splitLines(text).forEach((raw, index) => {
    const line = index + 1;
    const parsed = parseHtpasswdLine(raw);
    if (parsed.kind === 'ignored') return;
    if (parsed.kind === 'invalid') {
      skipped.push({ line, reason: parsed.reason });
      return;
    }
    const first = firstLine.get(parsed.user);
    if (first !== undefined) {
      skipped.push({ line, reason: `duplicate user, only line ${first} counts` });
      return;
    }
    firstLine.set(parsed.user, line);
    const hash = classifyHash(parsed.hash);
    if (!isSupported(hash)) {
      skipped.push({ line, reason: hash.unsupported });
      return;
    }
    entries.set(parsed.user, { user: parsed.user, line, hash });
  });
  return { entries, skipped };
}
