/**
 * Users whose UI sessions and refresh tokens issued before some time are refused, whatever their
 * credential: `registry-gate token revoke --user NAME`, for when a session or a refresh token was
 * stolen and the password was not (a changed password needs no entry: the credential stamp does it,
 * see deployment-key.ts). The user's password still logs in; what was issued before does not.
 *
 *   keyDir/revoked-users.json (0600, replaced atomically under its lock; written by the command only)
 *   {"version":1,"users":{"<name folded>":<not before, ms since the epoch>,…}}
 *
 * Names are folded (foldUserName), so `Alice` revokes the directory's `alice` too. Every server
 * watches the file, which replicas share with the key directory; with `redis`, the command also
 * records the time in Redis and publishes it (revocations.ts), and `refuse` takes it in at once,
 * also where this replica's copy of the file is behind. Entries older than the longest session or
 * refresh token are dropped when the command writes: nothing issued before them is valid anyway.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import { writeFileAtomic } from '../lib/atomic-write.js';
import { withFileLock } from '../lib/file-lock.js';
import { errnoCode } from '../lib/errno.js';
import { WatchedFile } from '../lib/watched-file.js';
import { foldUserName } from './user-name.js';
import { InternalError } from '../lib/internal-errors.js';

export const USER_REVOCATIONS_FILE = 'revoked-users.json';

const fileSchema = z.strictObject({ version: z.literal(1), users: z.record(z.string(), z.number()) });

function parse(text: string, file: string): Map<string, number> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new InternalError('RG_ERR_FILE_INVALID', `${file} is not JSON`);
  }
  const parsed = fileSchema.safeParse(json);
  if (!parsed.success) throw new InternalError('RG_ERR_FILE_INVALID', `${file} is not a list of revoked users`);
  return new Map(Object.entries(parsed.data.users));
}

/** The file in a key directory. */
export function userRevocationsFile(keyDir: string): string {
  return join(keyDir, USER_REVOCATIONS_FILE);
}

/** The name a revocation is recorded under. */
export function revokedUserKey(user: string): string {
  return foldUserName(user);
}

export class UserRevocations {
  readonly #file: WatchedFile<ReadonlyMap<string, number>>;
  /** Heard through Redis; may be ahead of this replica's copy of the file. */
  readonly #heard = new Map<string, number>();

  private constructor(file: WatchedFile<ReadonlyMap<string, number>>) {
    this.#file = file;
  }

  /** Loads the key directory's list (none yet: nobody revoked) and watches it. */
  static async open(keyDir: string, logger?: Logger): Promise<UserRevocations> {
    const path = userRevocationsFile(keyDir);
    const file = await WatchedFile.open<ReadonlyMap<string, number>>({
      file: path,
      what: 'revoked-user list',
      ...(logger ? { logger } : {}),
      parse: (content) => parse(content.toString('utf8'), path),
      whenMissing: () => new Map(),
    });
    return new UserRevocations(file);
  }

  /** Sessions and refresh tokens of `user` issued before this time (ms) are refused; undefined: none are. */
  notBefore(user: string): number | undefined {
    const key = revokedUserKey(user);
    const inFile = this.#file.current.get(key);
    const heard = this.#heard.get(key);
    if (inFile === undefined) return heard;
    return heard === undefined ? inFile : Math.max(inFile, heard);
  }

  /** Takes in revocations another replica published. */
  refuse(entries: Iterable<readonly [user: string, notBefore: number]>): void {
    for (const [user, notBefore] of entries) {
      const key = revokedUserKey(user);
      this.#heard.set(key, Math.max(notBefore, this.#heard.get(key) ?? notBefore));
    }
  }

  reload(force = false): Promise<void> {
    return this.#file.reload(force);
  }

  onChange(listener: () => void): () => void {
    return this.#file.onChange(listener);
  }

  close(): Promise<void> {
    return this.#file.close();
  }
}

/**
 * Records `user` as revoked from `notBefore` on (the `token revoke --user` command), dropping
 * entries older than `keepMs`. The command is the only writer, under the file's lock: two commands
 * at once both record their user, neither undoes the other's.
 */
export async function recordUserRevocation(keyDir: string, user: string, notBefore: number, keepMs: number): Promise<void> {
  const path = userRevocationsFile(keyDir);
  await withFileLock(path, async () => {
    let users = new Map<string, number>();
    try {
      users = parse(await readFile(path, 'utf8'), path);
    } catch (error) {
      if (errnoCode(error) !== 'ENOENT') throw error;
    }
    const oldest = Date.now() - keepMs;
    for (const [name, at] of users) if (at < oldest) users.delete(name);
    const key = revokedUserKey(user);
    users.set(key, Math.max(notBefore, users.get(key) ?? notBefore));
    await writeFileAtomic(path, JSON.stringify({ version: 1, users: Object.fromEntries(users) }, null, 2) + '\n');
  });
}
