/**
 * First run without a config: an htpasswd file with one user, `admin`, whose random password the
 * caller has put where the operator will find it (src/assembly/first-run.ts) before this file exists, so a
 * crash in between never leaves an admin nobody knows the password of. The file is mode 0600.
 */
import { FIRST_RUN_USER } from '../config/load.js';
import { HtpasswdDocument, hashPasswordBcrypt, readHtpasswdText, writeHtpasswdFile } from './htpasswd/edit.js';

export { FIRST_RUN_USER };

export async function firstRunAdminMissing(file: string): Promise<boolean> {
  return (await readHtpasswdText(file)) === undefined;
}

export async function createFirstRunAdmin(file: string, password: string): Promise<void> {
  const document = HtpasswdDocument.parse('');
  document.setHash(FIRST_RUN_USER, await hashPasswordBcrypt(password, 10));
  await writeHtpasswdFile(file, document.toString());
}
