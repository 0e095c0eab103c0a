/**
 * The htpasswd auth provider: users and hashes from a file that is re-read when it changes.
 *
 * Change detection: fs.watch on the directory (catches atomic replace by rename, which a watch on
 * the file itself would lose) plus a stat poll every second as the fallback for filesystems where
 * watching does not work (NFS, some container mounts, Kubernetes secret symlink swaps). Either one
 * only triggers a stat; the file is read when its inode, size, mtime or ctime changed, and the
 * users are replaced (and listeners told) only when its content did.
 *
 * A file that is missing or cannot be read (deleted, unreadable, a directory in its place) refuses
 * every login until it is back: keeping the last copy in memory would keep every user valid after
 * the operator removed them all. Listeners are told, so the credential cache forgets what it
 * verified. The names of that last copy stay owned meanwhile, so a later provider of the chain
 * cannot take them over. Why is logged once per change of the failure, never with file content.
 *
 * Names are matched byte for byte, but a name is owned in every spelling that folds to it
 * (foldUserName): `CAROL` or `ｃａｒｏｌ` for an htpasswd user `carol` is rejected here, after a
 * decoy check, rather than passed on to a provider that matches case-insensitively (LDAP).
 */
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { WatchedFile } from '../../lib/watched-file.js';
import type { AuthOutcome, AuthProvider, Credentials, Identity } from '../identity.js';
import { foldUserName } from '../user-name.js';
import { parseHtpasswd, type ParsedHtpasswd } from './file.js';
import { isWeakFormat, type HashFormat, type ParsedHash } from './formats.js';
import { dummyHash, verifyPassword } from './verify.js';

export interface HtpasswdProviderOptions {
  /** The htpasswd file. */
  readonly file: string;
  readonly logger: Logger;
  /** Stat poll interval; default 1000 ms. */
  readonly pollIntervalMs?: number;
  /** Also watch the directory for instant reloads; default true (false leaves the poll alone). */
  readonly watch?: boolean;
}

interface UserRecord {
  readonly hash: ParsedHash;
  readonly identity: Identity;
}

const NO_GROUPS: readonly string[] = Object.freeze([]);
const UNKNOWN: AuthOutcome = Object.freeze({ result: 'unknown' });
const REJECTED: AuthOutcome = Object.freeze({ result: 'rejected' });

interface Snapshot {
  readonly users: ReadonlyMap<string, UserRecord>;
  /** Every user name folded (foldUserName): the names this provider owns in any spelling. */
  readonly folded: ReadonlySet<string>;
  /** False while the file cannot be read: every login is refused. */
  readonly readable: boolean;
  /** Format and cost an unknown user's password is checked at. */
  readonly decoy: { readonly format: HashFormat; readonly cost: number };
}

const DEFAULT_DECOY = { format: 'bcrypt', cost: 10 } as const;

export class HtpasswdProvider implements AuthProvider {
  readonly name = 'htpasswd';
  readonly #file: WatchedFile<Snapshot>;

  /** Loads the file (throwing a clear error if it cannot be read) and starts watching it. */
  static async open(options: HtpasswdProviderOptions): Promise<HtpasswdProvider> {
    const { logger } = options;
    const file = await WatchedFile.open<Snapshot>({
      file: options.file,
      what: 'htpasswd file',
      logger,
      ...(options.pollIntervalMs !== undefined ? { pollIntervalMs: options.pollIntervalMs } : {}),
      ...(options.watch !== undefined ? { watch: options.watch } : {}),
      parse(content, { first, mode }) {
        const path = resolve(options.file);
        if (first && (mode & 0o004) !== 0) logger.warn({ file: path }, 'htpasswd file is readable by every local user; chmod 600 it');
        const parsed = parseHtpasswd(content.toString('utf8'));
        report(parsed, path, logger);
        const users = buildUsers(parsed);
        const snapshot: Snapshot = {
          users,
          folded: new Set([...users.keys()].map(foldUserName)),
          readable: true,
          decoy: typicalCost(parsed),
        };
        logger.info({ file: path, users: snapshot.users.size }, first ? 'htpasswd loaded' : 'htpasswd reloaded');
        return snapshot;
      },
      whenUnreadable: {
        value: (lastGood) => ({ ...lastGood, readable: false }),
        meaning: 'every htpasswd login is refused until it is back',
      },
    });
    return new HtpasswdProvider(file);
  }

  private constructor(file: WatchedFile<Snapshot>) {
    this.#file = file;
  }

  /** Absolute path of the file. */
  get path(): string {
    return this.#file.path;
  }

  /** Number of usable users in the current copy (0 while the file cannot be read). */
  get userCount(): number {
    const { users, readable } = this.#file.current;
    return readable ? users.size : 0;
  }

  /** Whether a user of this file has this name in some spelling (also while the file cannot be read). */
  owns(user: string): boolean {
    return this.#file.current.folded.has(foldUserName(user));
  }

  async verify(credentials: Credentials): Promise<Identity | null> {
    const outcome = await this.authenticate(credentials, true);
    return outcome.result === 'accepted' ? outcome.identity : null;
  }

  async authenticate(credentials: Credentials, final: boolean): Promise<AuthOutcome> {
    const { users, readable, decoy } = this.#file.current;
    const record = users.get(credentials.user);
    if (record && readable) {
      return (await verifyPassword(record.hash, credentials.password)) ? accepted(record) : REJECTED;
    }
    const owned = record !== undefined || this.owns(credentials.user);
    // Cost what a wrong password costs, so response times list neither the users nor their spellings.
    if (owned || final) await verifyPassword(await dummyHash(decoy.format, decoy.cost), credentials.password);
    return owned ? REJECTED : UNKNOWN;
  }

  /** The user's identity while the file (as last read) has the user; no password is checked. */
  lookup(user: string): Promise<AuthOutcome> {
    const record = this.#file.current.users.get(user);
    return Promise.resolve(record ? accepted(record) : UNKNOWN);
  }

  /** Called after the users changed (so that caches of verified credentials can be flushed). */
  onChange(listener: () => void): () => void {
    return this.#file.onChange(listener);
  }

  /** Re-reads the file now if it changed (SIGHUP), or whatever its stat says with `force`; see the top of this file for what a failure does. */
  reload(force = false): Promise<void> {
    return this.#file.reload(force);
  }

  close(): Promise<void> {
    return this.#file.close();
  }
}

/** A user's identity, and its line's hash as what identifies the credential (a new password, a new hash). */
function accepted(record: UserRecord): AuthOutcome {
  return { result: 'accepted', identity: record.identity, credential: record.hash.hash };
}

/** The users of the file; their groups come from every source later (../groups.ts), not from here. */
function buildUsers(parsed: ParsedHtpasswd): Map<string, UserRecord> {
  const users = new Map<string, UserRecord>();
  for (const [user, entry] of parsed.entries) {
    users.set(user, { hash: entry.hash, identity: Object.freeze({ user, groups: NO_GROUPS, via: 'htpasswd' as const }) });
  }
  return users;
}

function report(parsed: ParsedHtpasswd, path: string, logger: Logger): void {
  for (const skipped of parsed.skipped) {
    logger.warn({ file: path, line: skipped.line, reason: skipped.reason }, `htpasswd line ${skipped.line} skipped: ${skipped.reason}`);
  }
  const weak = [...parsed.entries.values()].filter((entry) => isWeakFormat(entry.hash.format)).length;
  if (weak > 0) logger.warn({ file: path, users: weak }, 'htpasswd has users with weak hashes (MD5 or SHA-1); re-hash them with bcrypt');
}

/** The most common (format, cost) pair in the file, so an unknown user costs what a known one does. */
function typicalCost(parsed: ParsedHtpasswd): Snapshot['decoy'] {
  const counts = new Map<string, { format: HashFormat; cost: number; count: number }>();
  for (const { hash } of parsed.entries.values()) {
    const key = `${hash.format}:${hash.cost}`;
    const seen = counts.get(key) ?? { format: hash.format, cost: hash.cost, count: 0 };
    seen.count += 1;
    counts.set(key, seen);
  }
  let best: { format: HashFormat; cost: number; count: number } | undefined;
  for (const candidate of counts.values()) {
    if (!best || candidate.count > best.count) best = candidate;
  }
  return best ? { format: best.format, cost: best.cost } : DEFAULT_DECOY;
}
