/**
 * The few file operations the store is built from, each safe against a crash at any instant: the
 * atomic write and create-if-absent of ../../lib/atomic-write.ts with their temporary files in the
 * store's `_tmp/` (swept by the upload store), and a removal made durable by fsyncing the folder it
 * was removed from. Folders are created 0700 and files 0600 (../../lib/file-modes.ts).
 */
import { unlink, utimes, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  createFileAtomic as createInPlace,
  fsyncDir,
  mkdirDurable,
  moveIntoPlace,
  writeFileAtomic as writeInPlace,
} from '../../lib/atomic-write.js';
import { errnoCode } from '../../lib/errno.js';

export { fsyncDir, mkdirDurable, moveIntoPlace };

function isNotFound(error: unknown): boolean {
  return errnoCode(error) === 'ENOENT';
}

/** Writes `data` to `target` atomically (temporary file in `tmpDir`): readers see the old file or the whole new one, never a part. */
export function writeFileAtomic(tmpDir: string, target: string, data: string | Uint8Array): Promise<void> {
  return writeInPlace(target, data, { tmpDir });
}

/**
 * Like writeFileAtomic, but only when `target` does not exist yet: link(2) refuses an existing name
 * atomically, across processes. False (and nothing written) when the target existed.
 */
export function createFileAtomic(tmpDir: string, target: string, data: string | Uint8Array): Promise<boolean> {
  return createInPlace(target, data, { tmpDir });
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
    const code = errnoCode(error);
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw error;
  }
}

export { isNotFound };
