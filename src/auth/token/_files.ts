/**
 * Writing the token service's files: replaced atomically (temporary file, fsync, rename) with an
 * explicit mode, or created exclusively so that two processes starting at once cannot both make a
 * signing key and overwrite each other's.
 */
import { randomBytes } from 'node:crypto';
import { chmod, link, mkdir, open, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { writeFileAtomic } from '../htpasswd/edit.js';

/** Replaces `path` atomically; secrets stay 0600, public files (certificates, JWKS) may be 0644. */
export async function replaceFile(path: string, content: string, mode: 0o600 | 0o644 = 0o600): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  // writeFileAtomic always creates 0600; a public file is opened up afterwards, never the reverse.
  await writeFileAtomic(path, content);
  if (mode !== 0o600) await chmod(path, mode);
}

async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } catch {
    // Some filesystems refuse fsync on a directory; the link itself has happened.
  } finally {
    await handle.close();
  }
}

/** Creates `path` with `content` (mode 0600) unless it exists; false when it already did. */
export async function createFileExclusive(path: string, content: string): Promise<boolean> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temporary, 'wx', 0o600);
  try {
    try {
      await handle.writeFile(content, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await link(temporary, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    await unlink(temporary).catch(() => undefined);
  }
  await syncDirectory(dirname(path));
  return true;
}
