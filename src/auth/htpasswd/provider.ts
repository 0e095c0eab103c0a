/**
 * The htpasswd auth provider: users and hashes from a file that is re-read when it changes.
 *
 * Change detection: fs.watch on the directory (catches atomic replace by rename, which a watch on
 * the file itself would lose) plus a stat poll every second as the fallback for filesystems where
 * watching does not work (NFS, some container mounts, Kubernetes secret symlink swaps). Either one
 * only triggers a stat; the file is read when its inode, size, mtime or ctime changed, and the
 * users are replaced (and listeners told) only when its content did. A reload that fails keeps the
 * last good copy and logs why, once per distinct failure.
 */
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { AuthOutcome, AuthProvider, Credentials, Identity } from '../identity.js';
import { parseHtpasswd, type ParsedHtpasswd } from './file.js';
import { isWeakFormat, type HashFormat, type ParsedHash } from './formats.js';
import { dummyHash, verifyPassword } from './verify.js';

export interface HtpasswdProviderOptions {
  /** The htpasswd file. */
  readonly file: string;
  readonly logger: Logger;
  /** Group name → member user names (the config's `groups`). */
  readonly groups?: Readonly<Record<string, readonly string[]>>;
  /** Stat poll interval; default 1000 ms. */
  readonly pollIntervalMs?: number;
  /** Also watch the directory for instant reloads; default true (false leaves the poll alone). */
  readonly watch?: boolean;
}

interface UserRecord {
  readonly hash: ParsedHash;
  readonly identity: Identity;
}

const UNKNOWN: AuthOutcome = Object.freeze({ result: 'unknown' });
const REJECTED: AuthOutcome = Object.freeze({ result: 'rejected' });

interface Snapshot {
  readonly users: ReadonlyMap<string, UserRecord>;
  /** Format and cost an unknown user's password is checked at. */
  readonly decoy: { readonly format: HashFormat; readonly cost: number };
  readonly digest: string;
}

const DEFAULT_DECOY = { format: 'bcrypt', cost: 10 } as const;
const WATCH_DEBOUNCE_MS = 50;

export class HtpasswdProvider implements AuthProvider {
  readonly name = 'htpasswd';
  /** Absolute path of the file. */
  readonly path: string;
  private readonly logger: Logger;
  private readonly groups: Readonly<Record<string, readonly string[]>>;
  private snapshot: Snapshot = { users: new Map(), decoy: DEFAULT_DECOY, digest: '' };
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
  static async open(options: HtpasswdProviderOptions): Promise<HtpasswdProvider> {
    const provider = new HtpasswdProvider(options);
    try {
      await provider.load();
    } catch (error) {
      throw new Error(`cannot load htpasswd file ${provider.path}: ${describe(error)}`);
    }
    provider.startWatching(options.pollIntervalMs ?? 1000, options.watch ?? true);
    return provider;
  }

  private constructor(options: HtpasswdProviderOptions) {
    this.path = resolve(options.file);
    this.logger = options.logger;
    this.groups = options.groups ?? {};
  }

  /** Number of usable users in the current copy. */
  get userCount(): number {
    return this.snapshot.users.size;
  }

  async verify(credentials: Credentials): Promise<Identity | null> {
    const outcome = await this.authenticate(credentials, true);
    return outcome.result === 'accepted' ? outcome.identity : null;
  }

  async authenticate(credentials: Credentials, final: boolean): Promise<AuthOutcome> {
    const { users, decoy } = this.snapshot;
    const record = users.get(credentials.user);
    if (!record) {
      // Last in the chain: cost what a wrong password costs, so response times do not list the users.
      if (final) await verifyPassword(await dummyHash(decoy.format, decoy.cost), credentials.password);
      return UNKNOWN;
    }
    return (await verifyPassword(record.hash, credentials.password)) ? { result: 'accepted', identity: record.identity } : REJECTED;
  }

  /** Called after the users changed (so that caches of verified credentials can be flushed). */
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

  private startWatching(pollIntervalMs: number, watchDirectory: boolean): void {
    this.poll = setInterval(() => void this.check(), pollIntervalMs).unref();
    if (!watchDirectory) return;
    try {
      this.watcher = watch(dirname(this.path), { persistent: false }, () => {
        if (this.debounce) return;
        this.debounce = setTimeout(() => {
          this.debounce = undefined;
          void this.check();
        }, WATCH_DEBOUNCE_MS).unref();
      });
      this.watcher.on('error', (error) => {
        this.logger.debug({ file: this.path, err: describe(error) }, 'htpasswd directory watch stopped; polling only');
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch (error) {
      this.logger.debug({ file: this.path, err: describe(error) }, 'cannot watch the htpasswd directory; polling only');
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
          if (this.lastFailure !== undefined) this.logger.info({ file: this.path }, 'htpasswd file readable again');
          this.lastFailure = undefined;
        } catch (error) {
          const reason = describe(error);
          if (reason !== this.lastFailure) {
            this.logger.warn({ file: this.path, err: reason }, 'htpasswd reload failed; keeping the last good copy');
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
    if (first && (stats.mode & 0o004n) !== 0n) {
      this.logger.warn({ file: this.path }, 'htpasswd file is readable by every local user; chmod 600 it');
    }
    const parsed = parseHtpasswd(content.toString('utf8'));
    this.report(parsed);
    this.snapshot = { users: this.buildUsers(parsed), decoy: typicalCost(parsed), digest };
    this.logger.info({ file: this.path, users: this.snapshot.users.size }, first ? 'htpasswd loaded' : 'htpasswd reloaded');
    if (!first) this.notify();
  }

  private buildUsers(parsed: ParsedHtpasswd): Map<string, UserRecord> {
    const membership = new Map<string, string[]>();
    for (const [group, members] of Object.entries(this.groups)) {
      for (const member of members) {
        if (!parsed.entries.has(member)) continue;
        const groups = membership.get(member) ?? [];
        if (!groups.includes(group)) groups.push(group);
        membership.set(member, groups);
      }
    }
    const users = new Map<string, UserRecord>();
    for (const [user, entry] of parsed.entries) {
      const groups = Object.freeze(membership.get(user) ?? []);
      users.set(user, { hash: entry.hash, identity: Object.freeze({ user, groups, via: 'htpasswd' as const }) });
    }
    return users;
  }

  private report(parsed: ParsedHtpasswd): void {
    for (const skipped of parsed.skipped) {
      this.logger.warn({ file: this.path, line: skipped.line, reason: skipped.reason }, `htpasswd line ${skipped.line} skipped: ${skipped.reason}`);
    }
    const weak = [...parsed.entries.values()].filter((entry) => isWeakFormat(entry.hash.format)).length;
    if (weak > 0) {
      this.logger.warn({ file: this.path, users: weak }, 'htpasswd has users with weak hashes (MD5 or SHA-1); re-hash them with bcrypt');
    }
  }

  private notify(): void {
    for (const listener of this.listeners) {
      try {
        listener();
      } catch (error) {
        this.logger.error({ err: describe(error) }, 'htpasswd change listener failed');
      }
    }
  }
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

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
