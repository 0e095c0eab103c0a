/** `access explain`'s look-up of a user through the configured providers, as a refresh re-checks a subject. */
import type { Config } from '../config/load.js';
import type { AuthProvider, Identity } from '../auth/identity.js';
import { HtpasswdProvider } from '../auth/htpasswd/provider.js';
import { LdapProvider } from '../auth/ldap/index.js';
import { ProviderChain } from '../auth/chain.js';
import { silentLoggers } from '../log.js';

/** The user as the server's providers know it now: name, groups and provider; or why not. */
export async function lookUpUser(config: Config, user: string): Promise<{ identity?: Identity; note?: string }> {
  const logger = silentLoggers().app;
  const opened: AuthProvider[] = [];
  try {
    const byName: Record<string, () => Promise<AuthProvider>> = {
      htpasswd: () => HtpasswdProvider.open({ file: config.auth.htpasswd, logger, watch: false }),
      ldap: () => {
        if (!config.auth.ldap) throw new Error('auth.providers names ldap without auth.ldap');
        return LdapProvider.open({ config: config.auth.ldap, logger });
      },
    };
    for (const name of config.auth.providers) opened.push(await (byName[name] as () => Promise<AuthProvider>)());
    const outcome = await new ProviderChain(opened, logger).lookup(user);
    if (outcome.result === 'accepted') return { identity: outcome.identity };
    return { note: `no provider of auth.providers (${config.auth.providers.join(', ')}) knows ${user}: asked without their groups` };
  } catch (error) {
    return {
      note: `the providers could not be asked (${error instanceof Error ? error.message : String(error)}): asked without their groups`,
    };
  } finally {
    await Promise.all(opened.map(async (provider) => provider.close?.()));
  }
}
