/**
 * One read-modify-write of a file at a time, across every process that edits it: the server's
 * workers, replicas on a shared folder, and the commands an administrator runs beside them
 * (`token personal revoke`, `token revoke`). The section lock (section-lock.ts) orders a server's
 * own writers, but a command is no part of the server; without this a command's revocation and a
 * server's write that read the file just before it can each replace the file, and the later rename
 * puts the revoked record back.
 *
 *   FILE.lock (0600, beside FILE; exists only while someone edits FILE)
 *   {"pid":1234,"host":"gate-1","nonce":"…"}
 *
 * The lock is taken by creating FILE.lock with O_EXCL (`open(…, 'wx')`), which only one process
 * can do; it is removed in `finally`. A waiter polls, for at most LOCK_WAIT_MS. A lock is stale
 * when its owner is gone (same host and `kill(pid, 0)` says no such process) or it is older than
 * STALE_AFTER_MS (an owner on another host that died; a section is one small read and one write).
 * A stale lock is first renamed to a name of the breaker's own (atomic: one breaker wins) and only
 * deleted when it is the very lock judged stale; a live lock moved by a breaker that lost the race
 * is linked back.
 */
import { randomBytes } from 'node:crypto';
import { link, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { mkdirDurable } from './atomic-write.js';
import { errnoCode } from './errno.js';
import { PRIVATE_FILE_MODE } from './file-modes.js';
import { InternalError } from './internal-errors.js';

/** How long a writer waits for the lock before it fails (the file is left as it was). */
export const LOCK_WAIT_MS = 15_000;
/** A lock older than this is taken for an owner that died without removing it. */
export const STALE_AFTER_MS = 10_000;
const FIRST_POLL_MS = 2;
const LAST_POLL_MS = 20;

export interface FileLockOptions {
  readonly waitMs?: number;
  readonly staleAfterMs?: number;
}

/** The lock file of `file`. */
export function lockFileOf(file: string): string {
  return `${file}.lock`;
}

/** Runs `section` holding `file`'s lock: the section reads the file again and writes it, and no other process edits it meanwhile. */
export async function withFileLock<T>(file: string, section: () => Promise<T>, options: FileLockOptions = {}): Promise<T> {
  const lock = lockFileOf(file);
  const owner = JSON.stringify({ pid: process.pid, host: hostname(), nonce: randomBytes(8).toString('hex') });
  await acquire(lock, owner, options);
  try {
    return await section();
  } finally {
    await release(lock, owner);
  }
}

async function acquire(lock: string, owner: string, options: FileLockOptions): Promise<void> {
  const deadline = Date.now() + (options.waitMs ?? LOCK_WAIT_MS);
  await mkdirDurable(dirname(lock));
  for (let poll = FIRST_POLL_MS; ; poll = Math.min(poll * 2, LAST_POLL_MS)) {
    if (await tryCreate(lock, owner)) return;
    await breakIfStale(lock, options.staleAfterMs ?? STALE_AFTER_MS);
    if (Date.now() >= deadline)
      throw new InternalError('RG_ERR_FILE_LOCKED', `${lock} is held by another process; nothing was changed (try again)`);
    await sleep(poll);
  }
}

async function tryCreate(lock: string, owner: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(lock, 'wx', PRIVATE_FILE_MODE);
  } catch (error) {
    if (errnoCode(error) === 'EEXIST') return false;
    throw error;
  }
  try {
    await handle.writeFile(owner);
  } finally {
    await handle.close();
  }
  return true;
}

/** Removes the lock if it is still ours (a breaker may have taken it for stale). */
async function release(lock: string, owner: string): Promise<void> {
  const held = await readFile(lock, 'utf8').catch(() => undefined);
  if (held === owner) await unlink(lock).catch(() => undefined);
}

async function breakIfStale(lock: string, staleAfterMs: number): Promise<void> {
  const seen = await readLock(lock);
  if (!seen || !isStale(seen, staleAfterMs)) return;
  const moved = `${lock}.${randomBytes(6).toString('hex')}.stale`;
  try {
    await rename(lock, moved);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return; // another breaker, or the owner, removed it
    throw error;
  }
  const took = await readFile(moved, 'utf8').catch(() => undefined);
  // Between our look and our rename the stale lock was broken and taken anew: give the new one back.
  if (took !== seen.text) await link(moved, lock).catch(() => undefined);
  await unlink(moved).catch(() => undefined);
}

interface SeenLock {
  readonly text: string;
  readonly ageMs: number;
  readonly pid: number | undefined;
  readonly host: string | undefined;
}

async function readLock(lock: string): Promise<SeenLock | undefined> {
  try {
    const [text, info] = await Promise.all([readFile(lock, 'utf8'), stat(lock)]);
    const owner = parseOwner(text);
    return { text, ageMs: Date.now() - info.mtimeMs, pid: owner?.pid, host: owner?.host };
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}

function parseOwner(text: string): { pid: number; host: string } | undefined {
  try {
    const parsed = JSON.parse(text) as { pid?: unknown; host?: unknown };
    return typeof parsed.pid === 'number' && typeof parsed.host === 'string' ? { pid: parsed.pid, host: parsed.host } : undefined;
  } catch {
    return undefined; // being written, or not ours: judged by age alone
  }
}

function isStale(seen: SeenLock, staleAfterMs: number): boolean {
  if (seen.ageMs > staleAfterMs) return true;
  return seen.host === hostname() && seen.pid !== undefined && !processExists(seen.pid);
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errnoCode(error) !== 'ESRCH'; // EPERM: it exists, as another user
  }
}
