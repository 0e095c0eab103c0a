/**
 * The provider chain (`auth.providers`, in order): the first provider that knows the user decides.
 * A provider that knows the user and refuses the password ends the search; one that does not know
 * the user passes the question on. A provider that cannot answer (directory down) throws, and the
 * error reaches the client (503) instead of being mistaken for a wrong password.
 */
import type { AuthOutcome, AuthProvider, Credentials, Identity } from './identity.js';

async function ask(provider: AuthProvider, credentials: Credentials, final: boolean): Promise<AuthOutcome> {
  if (provider.authenticate) return provider.authenticate(credentials, final);
  const identity = await provider.verify(credentials);
  return identity ? { result: 'accepted', identity } : { result: 'unknown' };
}

export class ProviderChain implements AuthProvider {
  readonly name: string;
  readonly #providers: readonly AuthProvider[];

  constructor(providers: readonly AuthProvider[]) {
    if (providers.length === 0) throw new Error('the provider chain needs at least one provider');
    this.#providers = providers;
    this.name = providers.map((provider) => provider.name).join('+');
  }

  async verify(credentials: Credentials): Promise<Identity | null> {
    for (const [index, provider] of this.#providers.entries()) {
      const outcome = await ask(provider, credentials, index === this.#providers.length - 1);
      if (outcome.result === 'accepted') return outcome.identity;
      if (outcome.result === 'rejected') return null;
    }
    return null;
  }

  /**
   * Whether a user still exists, asked in the same order and with the same rule as verify: the
   * first provider that has the name decides. A provider that cannot look users up cannot vouch
   * for one either, so the search ends there, refused.
   */
  async lookup(user: string): Promise<AuthOutcome> {
    for (const provider of this.#providers) {
      const outcome: AuthOutcome = provider.lookup ? await provider.lookup(user) : { result: 'rejected' };
      if (outcome.result !== 'unknown') return outcome;
    }
    return { result: 'unknown' };
  }

  async close(): Promise<void> {
    await Promise.all(this.#providers.map((provider) => provider.close?.()));
  }
}
