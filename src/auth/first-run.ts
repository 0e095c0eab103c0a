/**
 * First run without a config: an htpasswd file with one user, `admin`, whose random password is
 * announced once (to the terminal, never to the log) and never again. The file is mode 0600.
 */
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { HtpasswdDocument, hashPasswordBcrypt, readHtpasswdText, writeFileAtomic } from './htpasswd/edit.js';

export const FIRST_RUN_USER = 'admin';

export async function ensureFirstRunAdmin(file: string, announce: (line: string) => void): Promise<boolean> {
  if ((await readHtpasswdText(file)) !== undefined) return false;
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const password = randomBytes(18).toString('base64url');
  const document = HtpasswdDocument.parse('');
  document.setHash(FIRST_RUN_USER, await hashPasswordBcrypt(password, 10));
  await writeFileAtomic(file, document.toString());
  announce(`Created ${file} with the user "${FIRST_RUN_USER}" and the password ${password} (shown this once; change it with: registry-gate htpasswd add ${file} ${FIRST_RUN_USER})`);
  return true;
}
