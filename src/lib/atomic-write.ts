/**
 * The one way registry-gate writes a file that others read, safe against a crash at any instant:
 * the bytes go to a temporary file beside the target (or in a folder on the same filesystem), are
 * fsynced, and the temporary file is renamed into place (or linked, for create-if-absent); then the
 * folder is fsynced so the new name survives a power cut. Readers see the old file or the whole new
 * one, never a part. Folders are created 0700 and files 0600 (file-modes.ts) unless a mode is asked.
 *
 * Temporary names are `.<target name>.<random>.tmp`, which the watched-file mechanism ignores.
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, realpath, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join, relative, sep } from 'node:path';
import { errnoCode } from './errno.js';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from './file-modes.js';

export interface AtomicWriteOptions {
  /** Where the temporary file is made (on the target's filesystem); default the target's folder. */
  readonly tmpDir?: string;
  /** Exact permission bits of the new file (set with chmod, so the umask does not narrow them); default 0600 under the umask. */
  readonly mode?: number;
  /** Replace the file a symlink at `path` points to, not the symlink; default false. */
  readonly followSymlink?: boolean;
  /** When running as root, give the new file the owner and group of the one it replaces; default false. */
  readonly keepOwner?: boolean;
}

/** Error codes of filesystems that cannot fsync a folder; the rename or unlink itself has happened. */
const DIR_SYNC_UNSUPPORTED = new Set(['EINVAL', 'EISDIR', 'EPERM', 'ENOTSUP', 'EBADF']);

export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } catch (error) {
    if (!DIR_SYNC_UNSUPPORTED.has(errnoCode(error) ?? '')) throw error;
  } finally {
    await handle.close();
  }
}

/** mkdir -p (0700), then fsync the parent of every folder it created so the new entries survive a power cut. */
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

/** A complete, fsynced temporary file holding `data`, for `target`. */
async function writeTemp(target: string, data: string | Uint8Array, options: AtomicWriteOptions): Promise<string> {
  const tmpDir = options.tmpDir ?? dirname(target);
  if (options.tmpDir === undefined) await mkdirDurable(tmpDir);
  const temp = join(tmpDir, `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  const owner = options.keepOwner && process.getuid?.() === 0 ? await stat(target).catch(() => undefined) : undefined;
  const handle = await open(temp, 'wx', options.mode ?? PRIVATE_FILE_MODE);
  try {
    await handle.writeFile(data);
    if (owner) await handle.chown(owner.uid, owner.gid);
    if (options.mode !== undefined) await handle.chmod(options.mode);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  await handle.close();
  return temp;
}

/** Writes `data` to `path` atomically: readers see the old file or the whole new one, never a part. */
export async function writeFileAtomic(path: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): Promise<void> {
  const target = options.followSymlink ? await realpath(path).catch(() => path) : path;
  const temp = await writeTemp(target, data, options);
  try {
    await moveIntoPlace(temp, target);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
}

/**
 * Like writeFileAtomic, but only when `path` does not exist yet: link(2) refuses an existing name
 * atomically, across processes (two starting at once never both make a key, and a protected tag's
 * first push wins once). False (and nothing written) when the target existed.
 */
export async function createFileAtomic(path: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): Promise<boolean> {
  const temp = await writeTemp(path, data, options);
  try {
    await mkdirDurable(dirname(path));
    await link(temp, path);
    await fsyncDir(dirname(path));
    return true;
  } catch (error) {
    if (errnoCode(error) === 'EEXIST') return false;
    throw error;
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}
