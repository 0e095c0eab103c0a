/**
 * The service account's password, from the file or the environment variable the config names:
 * read once at start (and on a reload that builds the directory anew), never logged.
 */
import { readFile } from 'node:fs/promises';
import type { LdapConfig } from '../../config/schema/ldap.js';
import { errnoCode } from '../../lib/errno.js';
import { InternalError } from '../../lib/internal-errors.js';

export async function readBindPassword(config: LdapConfig, env: NodeJS.ProcessEnv): Promise<string> {
  if (config.bindPasswordFile !== undefined) {
    let text: string;
    try {
      text = await readFile(config.bindPasswordFile, 'utf8');
    } catch (error) {
      throw new InternalError(
        'RG_ERR_FILE_UNREADABLE',
        `cannot read the LDAP bind password file ${config.bindPasswordFile}: ${errnoCode(error) ?? 'unreadable'}`,
        {
          cause: error,
        },
      );
    }
    const password = text.replace(/\r?\n$/, '');
    if (password === '') throw new InternalError('RG_ERR_FILE_INVALID', `the LDAP bind password file ${config.bindPasswordFile} is empty`);
    return password;
  }
  const name = config.bindPasswordEnv as string;
  const value = env[name];
  if (value === undefined || value === '')
    throw new InternalError('RG_ERR_CONFIG_INVALID', `the environment variable ${name} (auth.ldap.bindPasswordEnv) is not set`);
  return value;
}
