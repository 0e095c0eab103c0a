/**
 * What a first start creates once: the self-signed TLS pair (`tls: auto`) and the htpasswd file with
 * an admin user (when no htpasswd is configured). Idempotent; run by the primary before workers
 * fork, which is why it lives apart from the rest of the gateway's code.
 *
 * The admin's password never reaches a log stream or stdout: it is written to
 * `dataDir/initial-admin-password` (0600) and only that path is announced, unless stderr is a
 * terminal, where a person reads it (and `docker logs` or journald do not keep it).
 */
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/load.js';
import { FIRST_RUN_USER, createFirstRunAdmin, firstRunAdminMissing } from '../auth/first-run.js';
import { writeFileAtomic } from '../lib/atomic-write.js';
import { ensureSelfSignedPair } from '../server/self-signed.js';

export const INITIAL_PASSWORD_FILE = 'initial-admin-password';

export interface FirstRunOutput {
  /** One line for the operator (stderr in `serve`). */
  announce(line: string): void;
  /** Whether the operator reads `announce` on a terminal; only then is the password itself shown. */
  terminal: boolean;
}

async function createAdmin(config: Config, output: FirstRunOutput): Promise<void> {
  const htpasswd = config.auth.htpasswd;
  if (!(await firstRunAdminMissing(htpasswd))) return;
  const password = randomBytes(18).toString('base64url');
  const passwordFile = join(config.dataDir, INITIAL_PASSWORD_FILE);
  // The default htpasswd file lives in dataDir, beside the password file.
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(passwordFile, `${password}\n`, { mode: 0o600 });
  await createFirstRunAdmin(htpasswd, password);
  const shown = output.terminal ? ` Its password is ${password} (shown on this terminal only).` : '';
  output.announce(
    `Created ${htpasswd} with the user "${FIRST_RUN_USER}"; its password is in ${passwordFile} (mode 0600).${shown} ` +
      `Change it with: registry-gate htpasswd add ${htpasswd} ${FIRST_RUN_USER}, then delete ${passwordFile}.`,
  );
}

export async function prepareFirstRun(config: Config, output: FirstRunOutput): Promise<void> {
  if (config.tls.mode === 'auto') {
    const pair = await ensureSelfSignedPair(config.tls.dir, config.tls);
    if (pair.created) {
      output.announce(
        `Generated a self-signed TLS certificate in ${config.tls.dir} (SHA-256 fingerprint ${pair.fingerprint}) ` +
          `for ${[...pair.names.dns, ...pair.names.ips].join(', ')} (${pair.created}); clients trust it with ${config.tls.trustDir}/ca.crt`,
      );
    }
  }
  if (config.auth.htpasswdIsDefault) await createAdmin(config, output);
}
