/**
 * The users who signed in through the OpenID provider, as identities like any other
 * (`via: "oidc"`, the provider's name and groups), and the re-check that ends them.
 *
 * A sign-in records the account (account-store.ts) with the provider's refresh token, sealed. Each
 * later use of the account — a UI request of its session, a request with one of its personal
 * tokens — asks `identityOf`, which answers from memory until `recheckInterval` has passed since
 * the last check; then, under the shared lock (one check per user across workers and replicas:
 * refresh tokens may rotate, and a rotated token used twice makes a provider revoke the grant), it
 * reads the store again (another process may have just checked) and asks the provider with a
 * refresh-token grant. The provider's answer refreshes the groups; its refusal (the user disabled
 * or deleted, consent revoked, the refresh token revoked) ends the account: the refresh token is
 * dropped, the account marked ended, and `onEnded` told why (the audit line, and the user's
 * personal tokens revoked). Every session and token bound to the account's id stops with it. A
 * provider that cannot be reached ends nobody: the request gets 503 until it can.
 *
 * An account without a refresh token (the provider did not grant offline_access) cannot be checked:
 * its sessions end when a check falls due, and it cannot make personal tokens.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { RedisConnection } from '../../redis/connection.js';
import type { RecordStore } from '../record-store.js';
import { RegistryError } from '../../oci/errors.js';
import type { Identity } from '../identity.js';
import type { SectionLock } from '../../lib/section-lock.js';
import type { RefreshSubject } from '../token/refresh-subject.js';
import { openAccountStore, type OidcAccountRecord } from './account-store.js';
import { OidcRefusal, type OidcClient, type OidcSubject } from './client.js';
import type { SecretBox } from './secret-box.js';

export interface AccountEnded {
  readonly user: string;
  /** A code: `provider-refused`, `subject-changed`, `claims-unusable`, `renamed`, `id-token-invalid`. */
  readonly reason: string;
  /** What the provider said, safe to log. */
  readonly detail: string;
}

export interface OidcAccountsOptions {
  /** Where accounts are kept without Redis. */
  readonly file: string;
  /** With Redis, accounts are kept there instead (account-store.ts). */
  readonly redis?: RedisConnection | undefined;
  readonly client: OidcClient;
  readonly box: SecretBox;
  readonly recheckIntervalMs: number;
  readonly lock: SectionLock;
  /** Whether an earlier provider (htpasswd, robots) owns the name: then it is never the provider's user. */
  readonly ownedElsewhere: (user: string) => boolean;
  readonly onEnded: (event: AccountEnded) => void;
  readonly logger?: Logger | undefined;
  readonly now?: () => number;
}

const sealPurpose = (user: string) => `refresh-token:${user}`;

/** What the provider says that ends an account: it refused the refresh token, or it now names someone else. */
const ENDING_REFUSALS: ReadonlySet<string> = new Set(['refused', 'subject-changed', 'claims-unusable']);

export class OidcAccounts {
  readonly #options: OidcAccountsOptions;
  readonly #now: () => number;
  #store!: RecordStore<OidcAccountRecord>;

  static async open(options: OidcAccountsOptions): Promise<OidcAccounts> {
    const accounts = new OidcAccounts(options);
    accounts.#store = await openAccountStore({ file: options.file, redis: options.redis, logger: options.logger });
    return accounts;
  }

  private constructor(options: OidcAccountsOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** Records a sign-in; the identity to issue a session for. */
  async signIn(subject: OidcSubject): Promise<Identity> {
    if (this.#options.ownedElsewhere(subject.user))
      throw new OidcRefusal('name-taken', `the name ${subject.user} belongs to a local account`);
    return this.#locked(subject.user, async () => {
      const known = (await this.#store.read()).get(subject.user);
      const continues = known !== undefined && known.ended === null && known.issuer === subject.issuer && known.sub === subject.sub;
      if (known && !continues && known.ended === null) {
        this.#options.logger?.warn(
          { user: subject.user },
          'another subject of the OpenID provider signed in under this name; the earlier one is ended',
        );
        this.#options.onEnded({
          user: subject.user,
          reason: 'subject-changed',
          detail: 'another subject of the provider signed in under this name',
        });
      }
      const refresh =
        subject.refreshToken === undefined
          ? continues
            ? known.refresh
            : null
          : this.#options.box.seal(sealPurpose(subject.user), subject.refreshToken);
      const record: OidcAccountRecord = {
        user: subject.user,
        id: continues ? known.id : randomUUID(),
        issuer: subject.issuer,
        sub: subject.sub,
        groups: [...subject.groups],
        refresh,
        checked: new Date(this.#now()).toISOString(),
        ended: null,
      };
      await this.#write(subject.user, record);
      return this.#identity(record);
    });
  }

  /** Whether the account can be checked later (it holds a refresh token): what personal tokens need. */
  canRecheck(user: string): boolean {
    const account = this.#store.current.get(user);
    return account !== undefined && account.ended === null && account.refresh !== null;
  }

  /** The identity of a session's or a token's owner now, re-checked with the provider when due; null when it has ended. */
  async identityOf(subject: RefreshSubject): Promise<Identity | null> {
    const usable = (account: OidcAccountRecord | undefined): account is OidcAccountRecord =>
      account !== undefined && account.ended === null && account.id === subject.subjectId && !this.#options.ownedElsewhere(account.user);
    const current = this.#store.current.get(subject.user);
    if (!usable(current)) return null;
    if (!this.#due(current)) return this.#identity(current);
    return this.#locked(subject.user, async () => {
      const fresh = (await this.#store.read()).get(subject.user);
      if (!usable(fresh)) return null;
      if (!this.#due(fresh)) return this.#identity(fresh);
      return this.#recheck(fresh);
    });
  }

  onChange(listener: () => void): () => void {
    return this.#store.onChange(listener);
  }

  reload(force = false): Promise<void> {
    return this.#store.reload(force);
  }

  async close(): Promise<void> {
    await this.#store.close();
  }

  #due(account: OidcAccountRecord): boolean {
    return this.#now() - Date.parse(account.checked) >= this.#options.recheckIntervalMs;
  }

  /** Asks the provider; the caller holds the user's lock. */
  async #recheck(account: OidcAccountRecord): Promise<Identity | null> {
    const refreshToken = account.refresh === null ? undefined : this.#options.box.open(sealPurpose(account.user), account.refresh);
    // Nothing to ask with: the sessions end (a new sign-in starts again), and nothing else exists.
    if (refreshToken === undefined) return null;
    let subject: OidcSubject;
    try {
      subject = await this.#options.client.refresh(refreshToken, account.sub);
    } catch (error) {
      if (!(error instanceof OidcRefusal)) throw error; // 503: the provider cannot be asked now
      if (!ENDING_REFUSALS.has(error.reason)) {
        // An answer that does not verify says nothing about the user (a key not fetched yet, a provider
        // misbehaving): nobody is ended for it, and nothing is accepted until it verifies.
        this.#options.logger?.error(
          { user: account.user, reason: error.reason, detail: error.detail },
          'the OpenID provider’s answer to a re-check does not verify',
        );
        // The provider may have retired the refresh token just used: keep the one it sent, check again next time.
        if (error.refreshToken !== undefined)
          await this.#write(account.user, { ...account, refresh: this.#options.box.seal(sealPurpose(account.user), error.refreshToken) });
        throw new RegistryError('UNAVAILABLE', 'the OpenID provider’s answer does not verify');
      }
      await this.#end(account, error.reason === 'refused' ? 'provider-refused' : error.reason, error.detail);
      return null;
    }
    if (subject.user !== account.user) {
      await this.#end(account, 'renamed', 'the provider now gives this subject another user name');
      return null;
    }
    const record: OidcAccountRecord = {
      ...account,
      groups: [...subject.groups],
      refresh:
        subject.refreshToken === undefined ? account.refresh : this.#options.box.seal(sealPurpose(account.user), subject.refreshToken),
      checked: new Date(this.#now()).toISOString(),
    };
    await this.#write(account.user, record);
    return this.#identity(record);
  }

  async #end(account: OidcAccountRecord, reason: string, detail: string): Promise<void> {
    const at = new Date(this.#now()).toISOString();
    await this.#write(account.user, { ...account, refresh: null, ended: { at, reason: `${reason}: ${detail}`.slice(0, 400) } });
    this.#options.logger?.warn(
      { user: account.user, reason, detail },
      'OpenID Connect user ended: their sessions and personal tokens stop',
    );
    this.#options.onEnded({ user: account.user, reason, detail });
  }

  #identity(account: OidcAccountRecord): Identity {
    return { user: account.user, groups: Object.freeze([...account.groups]), via: 'oidc', subjectId: account.id };
  }

  #locked<T>(user: string, section: () => Promise<T>): Promise<T> {
    return this.#options.lock.run(`oidc-account:${this.#store.where}:${user}`, section);
  }

  /** One write of the whole store at a time (other users' sections run concurrently; a file is rewritten whole). */
  async #write(user: string, record: OidcAccountRecord): Promise<void> {
    await this.#options.lock.run(`oidc-accounts:${this.#store.where}`, () => this.#store.write(new Map([[user, record]])));
  }
}
