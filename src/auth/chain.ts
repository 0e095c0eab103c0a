/**
 * The provider chain (`auth.providers`, in order): the first provider that knows the user decides.
 * A provider that knows the user and refuses the password ends the search; one that does not know
 * the user passes the question on. A provider that cannot answer (directory down) throws, and the
 * error reaches the client (503) instead of being mistaken for a wrong password.
 *
 * Providers do not spell names alike: htpasswd matches them byte for byte, a directory case- and
 * width-insensitively, answering with its own spelling. (A directory entry that the user filter
 * matches by anything but its name, an e-mail address say, is not the name's at all: the LDAP
 * provider answers 'unknown' for it, so it never decides, nor blocks, a name another provider
 * holds.) So a name an earlier provider owns in any spelling (`owns`, by foldUserName)
 * is never a later provider's to decide: the earlier provider rejects such spellings itself, and
 * an identity a later provider returns is refused — a failed login like any other — when an
 * earlier provider owns the name it was asked for or the name it answered with.
 *
 * Every identity the chain answers with, from verify and lookup alike, carries the stamp of the
 * credential the provider found (`credentialStamp`, deployment-key.ts): what binds a UI session or
 * a refresh token to the password it was issued for.
 */
import type { Logger } from 'pino';
import type { StampCredential } from './deployment-key.js';
import type { AuthOutcome, AuthProvider, Credentials, Identity } from './identity.js';
import { InternalError } from '../lib/internal-errors.js';

async function ask(provider: AuthProvider, credentials: Credentials, final: boolean): Promise<AuthOutcome> {
  if (provider.authenticate) return provider.authenticate(credentials, final);
  const identity = await provider.verify(credentials);
  return identity ? { result: 'accepted', identity } : { result: 'unknown' };
}

export class ProviderChain implements AuthProvider {
  readonly name: string;
  readonly #providers: readonly AuthProvider[];
  readonly #logger: Logger | undefined;
  readonly #stamp: StampCredential | undefined;

  /** Without `stamp` (tests of the chain alone) identities carry no credential stamp. */
  constructor(providers: readonly AuthProvider[], logger?: Logger, stamp?: StampCredential) {
    if (providers.length === 0) throw new InternalError('RG_ERR_INVALID_ARGUMENT', 'the provider chain needs at least one provider');
    this.#providers = providers;
    this.#logger = logger;
    this.#stamp = stamp;
    this.name = providers.map((provider) => provider.name).join('+');
  }

  async verify(credentials: Credentials): Promise<Identity | null> {
    for (const [index, provider] of this.#providers.entries()) {
      const outcome = await ask(provider, credentials, index === this.#providers.length - 1);
      if (outcome.result === 'rejected') return null;
      if (outcome.result === 'accepted') return this.#unlessOwnedEarlier(index, credentials, this.#stamped(provider, outcome));
    }
    return null;
  }

  /** Whether some provider of the chain owns `user` in any spelling. */
  owns(user: string): boolean {
    return this.#providers.some((provider) => provider.owns?.(user) === true);
  }

  /**
   * Whether a user still exists, asked in the same order and with the same rules as verify: the
   * first provider that has the name decides, and a name an earlier provider owns is never a later
   * one's. A provider that cannot look users up cannot vouch for one either, so the search ends
   * there, refused.
   */
  async lookup(user: string): Promise<AuthOutcome> {
    for (const [index, provider] of this.#providers.entries()) {
      const outcome: AuthOutcome = provider.lookup ? await provider.lookup(user) : { result: 'rejected' };
      if (outcome.result === 'unknown') continue;
      if (outcome.result === 'rejected') return outcome;
      const identity = this.#unlessOwnedEarlier(index, { user, password: '' }, this.#stamped(provider, outcome));
      return identity ? { result: 'accepted', identity } : { result: 'rejected' };
    }
    return { result: 'unknown' };
  }

  async close(): Promise<void> {
    await Promise.all(
      this.#providers.map(async (provider) => {
        await provider.close?.();
      }),
    );
  }

  /** The accepted identity with the stamp of the credential its provider found. */
  #stamped(provider: AuthProvider, outcome: Extract<AuthOutcome, { result: 'accepted' }>): Identity {
    if (!this.#stamp) return outcome.identity;
    return Object.freeze({ ...outcome.identity, credentialStamp: this.#stamp(provider.name, outcome.identity, outcome.credential) });
  }

  #unlessOwnedEarlier(index: number, credentials: Credentials, identity: Identity): Identity | null {
    const names = identity.user === null || identity.user === credentials.user ? [credentials.user] : [credentials.user, identity.user];
    const owner = this.#providers.slice(0, index).find((earlier) => names.some((name) => earlier.owns?.(name) === true));
    if (!owner) return identity;
    // The name a directory answered with, never the typed one (which could be a mistyped password).
    this.#logger?.warn(
      { provider: this.#providers[index]?.name, owner: owner.name, user: identity.user },
      'login refused: a later provider accepted a name an earlier provider owns (in some spelling)',
    );
    return null;
  }
}
