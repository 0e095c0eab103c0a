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
import type { Logger } from 'pino';
import type { FileWatchOptions } from '../../lib/watched-file.js';
import type { RedisConnection } from '../../redis/connection.js';
import type { RecordStore } from '../record-store.js';
import type { Credentials, Identity } from '../identity.js';
import type { SectionLock } from '../../lib/section-lock.js';
import type { RefreshIdentity } from '../token/refresh-subject.js';
import { parseRobotScope } from '../token/robots.js';
import type { TokenAccess } from '../token/types.js';
import {
  listed,
  newPersonalToken,
  openPersonalTokenStore,
  removePersonalTokens,
  type ListedPersonalToken,
  type NewPersonalToken,
  type PersonalTokenRecord,
} from './records.js';
import { hashPersonalToken, isWellFormedPersonalToken, looksLikePersonalToken } from './secret.js';
import { fileUsage, redisUsage, TokenUsage, usageFileOf, type TokenUse } from './usage.js';

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
  /** auth.tokens.store: where tokens are kept without Redis. */
  readonly file: string;
  /** With Redis, tokens and their uses are kept there instead (record-store.ts). */
  readonly redis?: RedisConnection | undefined;
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
  readonly #options: PersonalTokensOptions;
  readonly #now: () => number;
  #store!: RecordStore<PersonalTokenRecord>;
  /** The store's records as this process checks them, rebuilt when the store changes. */
  #loaded!: LoadedStore;
  #usage!: TokenUsage;

  static async open(options: PersonalTokensOptions): Promise<PersonalTokens> {
    const tokens = new PersonalTokens(options);
    tokens.#store = await openPersonalTokenStore({
      file: options.file,
      redis: options.redis,
      logger: options.logger,
      ...(options.watch ? { watch: options.watch } : {}),
    });
    tokens.#loaded = tokens.#load([...tokens.#store.current.values()]);
    tokens.#store.onChange(() => (tokens.#loaded = tokens.#load([...tokens.#store.current.values()])));
    tokens.#usage = new TokenUsage({
      backend: options.redis ? redisUsage(options.redis) : fileUsage(usageFileOf(options.file), options.lock),
      liveIds: () => tokens.#loaded.ids,
      flushIntervalMs: options.usageFlushMs,
      logger: options.logger,
      now: tokens.#now,
    });
    return tokens;
  }

  private constructor(options: PersonalTokensOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** Where the tokens are kept (a file, or `redis:KEY`). */
  get where(): string {
    return this.#store.where;
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
    const token = this.#loaded.byHash.get(hashPersonalToken(credentials.password).toString('hex'));
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
    const { records } = this.#loaded;
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
    return this.#locked(async () => {
      const created = newPersonalToken((await this.#store.read()).values(), {
        ...token,
        latestExpiry: new Date(now.getTime() + this.#options.maxLifetimeMs),
        maxPerOwner: this.#options.maxPerUser,
        now,
      });
      await this.#store.write(new Map([[created.token.id, created.token]]));
      return created;
    });
  }

  /** Removes the tokens `which` selects; applies at once. */
  async revoke(which: (token: ListedPersonalToken) => boolean): Promise<ListedPersonalToken[]> {
    const removed = await this.#locked(() => removePersonalTokens(this.#store, which));
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
    return this.#options.lock.run(`personal-tokens:${this.#store.where}`, section);
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
        else this.#options.logger?.warn({ store: this.where, token: record.id, problem: parsed.problem }, 'personal token scope ignored');
      }
      byHash.set(record.hash.slice('sha256:'.length), { record, endsAt: this.#endsAt(record), access: Object.freeze(access) });
    }
    return { byHash, ids: new Set(records.map((record) => record.id)), records };
  }
}
