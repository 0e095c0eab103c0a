/**
 * Personal access tokens at work: a registry client logs in with its owner's user name and the
 * token as the password (Basic at /v2/, or at the token endpoint), and acts as the owner, narrowed
 * by the token's scopes.
 *
 * A token never does more than its owner may do now: the owner is looked up afresh with the
 * provider that vouched for them when the token was made (`ownerIdentity`: the htpasswd file, a
 * directory search, the OpenID Connect re-check; groups read again from every source), and the
 * rules are evaluated against that identity and intersected with the token's scopes (its
 * `tokenAccess`, checked by access/decide.ts). The owner is re-checked as a UI session's subject is
 * (token/refresh-subject.ts): an owner who is gone, another provider's user of the same name, the
 * provider's account made anew, a credential other than the one the owner had when the token was
 * made (a changed password: its credential stamp differs), or `token revoke --user` since the
 * token was made, each makes the token useless at once, without touching the store. The user name
 * must be the owner's, exactly: one user's token is never another's password.
 *
 * The check costs one SHA-256 and a map lookup. The map is keyed by the SHA-256 of the secret: the
 * secret has 190 random bits, so how long the lookup takes says nothing anyone could use. Each
 * refusal is logged with its reason (never the secret); the client gets the one generic 401.
 */
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { WatchedFile, type FileWatchOptions } from '../../lib/watched-file.js';
import type { Credentials, Identity } from '../identity.js';
import type { SectionLock } from '../../lib/section-lock.js';
import type { RefreshIdentity } from '../token/refresh-subject.js';
import { parseRobotScope } from '../token/robots.js';
import type { TokenAccess } from '../token/types.js';
import {
  createPersonalToken,
  listed,
  parsePersonalTokens,
  removePersonalTokens,
  type ListedPersonalToken,
  type NewPersonalToken,
  type PersonalTokenRecord,
} from './records.js';
import { hashPersonalToken, isWellFormedPersonalToken, looksLikePersonalToken } from './secret.js';
import { TokenUsage, usageFileOf, type TokenUse } from './usage.js';

/** Why a token was refused, for the log. */
export type TokenRefusal = 'disabled' | 'malformed' | 'unknown-token' | 'expired' | 'owner-mismatch' | 'owner-ended';

export type TokenCheck =
  { readonly result: 'accepted'; readonly identity: Identity } | { readonly result: 'rejected'; readonly reason: TokenRefusal };

interface LoadedToken {
  readonly record: PersonalTokenRecord;
  /** min(expires, created + maxLifetime), ms. */
  readonly endsAt: number;
  readonly access: readonly TokenAccess[];
}

interface LoadedStore {
  readonly byHash: ReadonlyMap<string, LoadedToken>;
  readonly ids: ReadonlySet<string>;
  readonly records: readonly PersonalTokenRecord[];
}

export interface PersonalTokensOptions {
  readonly file: string;
  readonly enabled: boolean;
  readonly maxLifetimeMs: number;
  readonly maxPerUser: number;
  /** The owner as their provider sees them now, with groups; null when they may not sign in any more. */
  readonly ownerIdentity: RefreshIdentity;
  readonly lock: SectionLock;
  readonly logger?: Logger | undefined;
  readonly watch?: FileWatchOptions;
  readonly usageFlushMs?: number;
  readonly now?: () => number;
}

/** A token listed for its owner or an admin: with its effective expiry and last use. */
export interface TokenListing extends ListedPersonalToken {
  /** When it stops working: its expiry, or earlier when auth.tokens.maxLifetime is shorter now. */
  readonly endsAt: string;
  readonly lastUsed?: TokenUse | undefined;
}

export class PersonalTokens {
  readonly file: string;
  readonly #options: PersonalTokensOptions;
  readonly #now: () => number;
  #store!: WatchedFile<LoadedStore>;
  #usage!: TokenUsage;

  static async open(options: PersonalTokensOptions): Promise<PersonalTokens> {
    const tokens = new PersonalTokens(options);
    tokens.#store = await WatchedFile.open<LoadedStore>({
      file: tokens.file,
      what: 'personal token store',
      ...(options.logger ? { logger: options.logger } : {}),
      ...options.watch,
      parse: (content) => tokens.#load(parsePersonalTokens(content.toString('utf8'), tokens.file)),
      whenMissing: () => tokens.#load([]),
      // A credentials file that cannot be read accepts nobody until it can be.
      whenUnreadable: { value: () => tokens.#load([]), meaning: 'no personal token is accepted until it can be' },
    });
    tokens.#usage = new TokenUsage({
      file: usageFileOf(tokens.file),
      lock: options.lock,
      liveIds: () => tokens.#store.current.ids,
      flushIntervalMs: options.usageFlushMs,
      logger: options.logger,
      now: tokens.#now,
    });
    return tokens;
  }

  private constructor(options: PersonalTokensOptions) {
    this.file = resolve(options.file);
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  get enabled(): boolean {
    return this.#options.enabled;
  }

  get maxLifetimeMs(): number {
    return this.#options.maxLifetimeMs;
  }

  /** Whether this password is a personal token's to decide (then no password provider is asked). */
  claims(password: string): boolean {
    return looksLikePersonalToken(password);
  }

  /** The owner's identity narrowed by the token's scopes, or why not. Throws when the owner's provider cannot answer (503). */
  async check(credentials: Credentials): Promise<TokenCheck> {
    const refused = (reason: TokenRefusal, token?: PersonalTokenRecord): TokenCheck => {
      this.#options.logger?.info(
        { user: credentials.user.slice(0, 256), tokenId: token?.id, owner: token?.owner, reason },
        'personal token refused',
      );
      return { result: 'rejected', reason };
    };
    if (!this.#options.enabled) return refused('disabled');
    if (!isWellFormedPersonalToken(credentials.password)) return refused('malformed');
    const token = this.#store.current.byHash.get(hashPersonalToken(credentials.password).toString('hex'));
    if (!token) return refused('unknown-token');
    const { record } = token;
    if (this.#now() >= token.endsAt) return refused('expired', record);
    if (credentials.user !== record.owner) return refused('owner-mismatch', record);
    const owner = await this.#options.ownerIdentity({
      user: record.owner,
      via: record.via,
      subjectId: record.ownerId,
      credentialStamp: record.credentialStamp,
      issuedAt: Date.parse(record.created),
    });
    if (!owner || owner.user !== record.owner) return refused('owner-ended', record);
    this.#usage.record(record.id, credentials.clientIp ?? 'unknown');
    return {
      result: 'accepted',
      identity: {
        user: owner.user,
        groups: owner.groups,
        via: 'personal-token',
        tokenAccess: token.access,
        personalTokenId: record.id,
      },
    };
  }

  /** The tokens of `owner` (every token for undefined), newest first, with their last use. */
  async list(owner?: string): Promise<TokenListing[]> {
    const uses = await this.#usage.read();
    const { records } = this.#store.current;
    return records
      .filter((record) => owner === undefined || record.owner === owner)
      .map((record) => ({
        ...listed(record),
        endsAt: new Date(this.#endsAt(record)).toISOString(),
        lastUsed: uses.get(record.id),
      }))
      .sort((a, b) => b.created.localeCompare(a.created));
  }

  /** Makes a token (the store's own checks; an Error's message says what is wrong with the input); applies at once. */
  async create(
    token: Omit<NewPersonalToken, 'latestExpiry' | 'maxPerOwner' | 'now'>,
  ): Promise<{ token: PersonalTokenRecord; secret: string }> {
    if (!this.#options.enabled) throw new Error('personal access tokens are turned off (auth.tokens.enabled)');
    const now = new Date(this.#now());
    const created = await this.#locked(() =>
      createPersonalToken(this.file, {
        ...token,
        latestExpiry: new Date(now.getTime() + this.#options.maxLifetimeMs),
        maxPerOwner: this.#options.maxPerUser,
        now,
      }),
    );
    await this.#store.reload(true);
    return created;
  }

  /** Removes the tokens `which` selects; applies at once. */
  async revoke(which: (token: ListedPersonalToken) => boolean): Promise<ListedPersonalToken[]> {
    const removed = await this.#locked(() => removePersonalTokens(this.file, which));
    if (removed.length > 0) await this.#store.reload(true);
    return removed.map(listed);
  }

  /** Called after the store changed. */
  onChange(listener: () => void): () => void {
    return this.#store.onChange(listener);
  }

  reload(force = false): Promise<void> {
    return this.#store.reload(force);
  }

  async close(): Promise<void> {
    await this.#usage.close();
    await this.#store.close();
  }

  #locked<T>(section: () => Promise<T>): Promise<T> {
    return this.#options.lock.run(`personal-tokens:${this.file}`, section);
  }

  #endsAt(record: PersonalTokenRecord): number {
    return Math.min(Date.parse(record.expires), Date.parse(record.created) + this.#options.maxLifetimeMs);
  }

  #load(records: readonly PersonalTokenRecord[]): LoadedStore {
    const byHash = new Map<string, LoadedToken>();
    for (const record of records) {
      const access: TokenAccess[] = [];
      for (const scope of record.scopes) {
        const parsed = parseRobotScope(scope);
        if ('access' in parsed) access.push(parsed.access);
        else this.#options.logger?.warn({ file: this.file, token: record.id, problem: parsed.problem }, 'personal token scope ignored');
      }
      byHash.set(record.hash.slice('sha256:'.length), { record, endsAt: this.#endsAt(record), access: Object.freeze(access) });
    }
    return { byHash, ids: new Set(records.map((record) => record.id)), records };
  }
}
