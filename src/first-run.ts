/**
 * What a first start creates once: the self-signed TLS pair (`tls: auto`) and the htpasswd file with
 * an admin user (when no htpasswd is configured). Idempotent; run by the primary before workers
 * fork, which is why it lives apart from the rest of the gateway's code.
 */
import type { Config } from './config/load.js';
import { ensureFirstRunAdmin } from './auth/first-run.js';
import { ensureSelfSignedPair } from './server/tls.js';

export async function prepareFirstRun(config: Config, announce: (line: string) => void): Promise<void> {
  if (config.tls.mode === 'auto') {
    const generated = await ensureSelfSignedPair(config.tls.dir);
    if (generated.created) announce(`Generated a self-signed TLS certificate in ${config.tls.dir} (SHA-256 fingerprint ${generated.fingerprint})`);
  }
  if (config.auth.htpasswdIsDefault) await ensureFirstRunAdmin(config.auth.htpasswd, announce);
}
