/**
 * The few file operations the store is built from, each safe against a crash at any instant:
 * a file appears under its final name only complete and on disk (write to a temp file in the same
 * filesystem, fsync it, rename it into place, fsync the folder), and a removal is made durable by
 * fsyncing the folder it was removed from. Folders are created 0700 and files 0600 (../../file-modes.ts).
 */
import { randomUUID } from 'node:crypto';
import { link, mkdir, open, rename, unlink, utimes, readFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../../file-modes.js';

function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | null)?.code === 'ENOENT';
}

/** Error codes of filesystems that cannot fsync a folder; the rename or unlink itself has happened. */
const DIR_SYNC_UNSUPPORTED = new Set(['EINVAL', 'EISDIR', 'EPERM', 'ENOTSUP', 'EBADF']);

export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } catch (error) {
    if (!DIR_SYNC_UNSUPPORTED.has((error as NodeJS.ErrnoException).code ?? '')) throw error;
  } finally {
    await handle.close();
  }
}

/** mkdir -p, then fsync the parent of every folder it created so the new entries survive a power cut. */
export async function mkdirDurable(dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  if (first === undefined) return;
  const created = relative(dirname(first), dir).split(sep);
  let current = dirname(first);
  for (const part of created) {
    await fsyncDir(current);
    current = join(current, part);
  }
}

/** Renames `from` to `to` (replacing any file there), creating `to`'s folder first; both made durable. */
export async function moveIntoPlace(from: string, to: string): Promise<void> {
  await mkdirDurable(dirname(to));
  await rename(from, to);
  await fsyncDir(dirname(to));
}

/** A complete, fsynced temp file holding `data`, in `tmpDir` (on the target's filesystem). */
async function writeTemp(tmpDir: string, data: string | Uint8Array): Promise<string> {
  const temp = join(tmpDir, `${randomUUID()}.tmp`);
  const handle = await open(temp, 'wx', PRIVATE_FILE_MODE);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  await handle.close();
  return temp;
}

/** Writes `data` to `target` atomically: readers see the old file or the whole new one, never a part. */
export async function writeFileAtomic(tmpDir: string, target: string, data: string | Uint8Array): Promise<void> {
  const temp = await writeTemp(tmpDir, data);
  try {
    await moveIntoPlace(temp, target);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
}

/**
 * Like writeFileAtomic, but only when `target` does not exist yet: link(2) refuses an existing name
 * atomically, across processes. False (and nothing written) when the target existed.
 */
export async function createFileAtomic(tmpDir: string, target: string, data: string | Uint8Array): Promise<boolean> {
  const temp = await writeTemp(tmpDir, data);
  try {
    await mkdirDurable(dirname(target));
    await link(temp, target);
    await fsyncDir(dirname(target));
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    await unlink(temp).catch(() => undefined);
  }
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
    if (isNotFound(error) || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw error;
  }
}

export { isNotFound };
