/**
 * The file operations the store is built from beside the atomic write of ../../lib/atomic-write.ts
 * (which the stores call with their temporary files in the store's `_tmp/`, swept by the upload
 * store): a removal made durable by fsyncing the folder it was removed from, a touch, and the reads
 * that take a missing file or folder as an answer rather than a failure.
 */
import { readdir, readFile, unlink, utimes } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fsyncDir } from '../../lib/atomic-write.js';
import { errnoCode } from '../../lib/errno.js';

export function isNotFound(error: unknown): boolean {
  return errnoCode(error) === 'ENOENT';
}

/** Not there: the path does not exist, or one of its parents is a file. */
function isAbsent(error: unknown): boolean {
  const code = errnoCode(error);
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** Removes a file if it exists; true when it did. */
export async function removeDurable(path: string): Promise<boolean> {
  try {
    await unlink(path);
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
  await fsyncDir(dirname(path)).catch(() => undefined);
  return true;
}

/** Marks a file as just used (for the garbage collector's grace period); false if it does not exist. */
export async function touch(path: string): Promise<boolean> {
  const now = new Date();
  try {
    await utimes(path, now, now);
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

export async function readTextIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if (isAbsent(error)) return undefined;
    throw error;
  }
}

/**
 * The names in a folder, in no particular order; undefined when there is no such folder. A folder
 * that exists but cannot be read throws: read as empty, it would hide content (a tag, a referrer)
 * from the listings and from the garbage collector's mark.
 */
export async function listDirectory(path: string): Promise<string[] | undefined> {
  try {
    return await readdir(path);
  } catch (error) {
    if (isAbsent(error)) return undefined;
    throw error;
  }
}
