/**
 * The personal token store, read by the server and by the `token personal` command: one JSON file,
 * replaced atomically and watched, or with `redis` the hash `PREFIX personal-tokens` (field = id,
 * value = the record's JSON), so replicas that share no folder agree (../record-store.ts). It holds
 * what a token is for and the SHA-256 of its secret, never the secret.
 *
 *   personal-tokens.json (0600)
 *   {"version":1,"tokens":[{"id":"9f2c…","owner":"alice","via":"ldap","ownerId":"…"?,"credentialStamp":"…"?,
 *                           "name":"laptop","hash":"sha256:…","scopes":["repository:team-a/*:pull,push"],
 *                           "created":"…","expires":"…"}]}
 *
 * `via` is the provider that vouched for the owner when the token was made, and `ownerId` the
 * account's id where that provider keeps one (an OpenID Connect account's): a token is only ever
 * good for that same account, asked of that same provider, so a namesake made later (another
 * provider's user, or the provider's account made anew) never inherits it. `credentialStamp` is the
 * stamp of the owner's credential when the token was made (deployment-key.ts), as a UI session
 * carries it: a password changed since ends the token (an OpenID Connect owner has none; their
 * account's id and the provider's re-check stand for it).
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { FileWatchOptions } from '../../lib/watched-file.js';
import type { RedisConnection } from '../../redis/connection.js';
import { FileRecordStore, RedisRecordStore, type RecordStore } from '../record-store.js';
import { hasTerminalControl } from '../../lib/terminal-safe.js';
import { parseRobotScope } from '../token/robots.js';
import { hashPersonalToken, newPersonalTokenSecret } from './secret.js';
import { parseJsonFile } from '../../lib/json-file.js';

/** Providers whose users may own tokens: each can tell later whether the owner is still there. */
export const TOKEN_OWNER_PROVIDERS = ['htpasswd', 'ldap', 'oidc'] as const;
export type TokenOwnerProvider = (typeof TOKEN_OWNER_PROVIDERS)[number];

export const MAX_TOKEN_NAME_LENGTH = 64;
export const MAX_TOKEN_SCOPES = 32;
/** 1 to 64 characters (UTF-16 units), none a control or bidirectional formatting character (an admin reads names in a terminal). */
const tokenName = z
  .string()
  .min(1)
  .max(MAX_TOKEN_NAME_LENGTH)
  .refine((name) => !hasTerminalControl(name), 'a control or bidirectional formatting character');

const tokenRecord = z.strictObject({
  id: z.string().regex(/^[0-9a-f]{16}$/),
  owner: z.string().min(1).max(256),
  via: z.enum(TOKEN_OWNER_PROVIDERS),
  ownerId: z.string().min(1).max(256).optional(),
  credentialStamp: z.string().min(1).max(64).optional(),
  name: tokenName,
  hash: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  scopes: z.array(z.string()).min(1).max(MAX_TOKEN_SCOPES),
  created: z.iso.datetime(),
  expires: z.iso.datetime(),
});
const storeSchema = z.strictObject({ version: z.literal(1), tokens: z.array(tokenRecord) });

export type PersonalTokenRecord = z.infer<typeof tokenRecord>;
/** What may be shown of a token: everything but the hash of its secret. */
export type ListedPersonalToken = Omit<PersonalTokenRecord, 'hash'>;

export function listed({ hash: _hash, ...token }: PersonalTokenRecord): ListedPersonalToken {
  return token;
}

/** The tokens in a store's text; throws on text that is not a token store. */
export function parsePersonalTokens(text: string, file: string): PersonalTokenRecord[] {
  return parseJsonFile(text, file, storeSchema, 'a personal token store').tokens;
}

export function serializePersonalTokens(tokens: readonly PersonalTokenRecord[]): string {
  return JSON.stringify({ version: 1, tokens }, null, 2) + '\n';
}

export interface PersonalTokenStoreOptions {
  /** auth.tokens.store: the file without Redis. */
  readonly file: string;
  /** With Redis, the hash `PREFIX personal-tokens` instead of the file. */
  readonly redis?: RedisConnection | undefined;
  readonly logger?: Logger | undefined;
  readonly watch?: FileWatchOptions;
}

/** The store of the server and of the `token personal` command: the Redis hash with `redis`, else the file. */
export async function openPersonalTokenStore(options: PersonalTokenStoreOptions): Promise<RecordStore<PersonalTokenRecord>> {
  const what = 'personal token store';
  if (options.redis)
    return RedisRecordStore.open({ redis: options.redis, name: 'personal-tokens', what, schema: tokenRecord, logger: options.logger });
  return FileRecordStore.open({
    file: options.file,
    what,
    parse: (text) => parsePersonalTokens(text, options.file),
    serialize: serializePersonalTokens,
    keyOf: (token) => token.id,
    logger: options.logger,
    ...(options.watch ? { watch: options.watch } : {}),
  });
}

export interface NewPersonalToken {
  readonly owner: string;
  readonly via: TokenOwnerProvider;
  readonly ownerId?: string | undefined;
  /** The owner's credential stamp now (Identity.credentialStamp); the token ends when it changes. */
  readonly credentialStamp?: string | undefined;
  readonly name: string;
  /** `repository:PATTERN:ACTIONS` or `registry:catalog:*`, as robot scopes. */
  readonly scopes: readonly string[];
  readonly expires: Date;
  /** The latest expiry allowed (now + auth.tokens.maxLifetime). */
  readonly latestExpiry: Date;
  /** How many tokens one owner may hold. */
  readonly maxPerOwner: number;
  readonly now?: Date;
}

/** What is wrong with a new token's fields, in words for the person making it; undefined when nothing is. */
export function personalTokenProblem(token: NewPersonalToken, now: Date): string | undefined {
  if (!tokenName.safeParse(token.name).success || token.name.trim() === '')
    return `a name of 1 to ${MAX_TOKEN_NAME_LENGTH} characters is needed, without control or text-direction characters`;
  if (token.scopes.length === 0) return 'choose at least one repository and one action';
  if (token.scopes.length > MAX_TOKEN_SCOPES) return `at most ${MAX_TOKEN_SCOPES} scopes`;
  for (const scope of token.scopes) {
    const parsed = parseRobotScope(scope);
    if ('problem' in parsed) return parsed.problem;
  }
  if (token.expires.getTime() <= now.getTime()) return 'the expiry is in the past';
  if (token.expires.getTime() > token.latestExpiry.getTime())
    return `the expiry may be at most ${token.latestExpiry.toISOString().slice(0, 10)} (auth.tokens.maxLifetime)`;
  return undefined;
}

/**
 * A new token for the store that holds `existing` (the caller holds the store's lock, and writes the
 * record); the secret is returned here and nowhere else. Throws an Error whose message names the
 * problem with the input.
 */
export function newPersonalToken(
  existing: Iterable<PersonalTokenRecord>,
  token: NewPersonalToken,
): { token: PersonalTokenRecord; secret: string } {
  const now = token.now ?? new Date();
  const problem = personalTokenProblem(token, now);
  if (problem) throw new Error(problem);
  if ([...existing].filter((held) => held.owner === token.owner).length >= token.maxPerOwner)
    throw new Error(`you hold ${token.maxPerOwner} tokens already, the most allowed: revoke one first`);
  const secret = newPersonalTokenSecret();
  const record: PersonalTokenRecord = {
    id: randomBytes(8).toString('hex'),
    owner: token.owner,
    via: token.via,
    ...(token.ownerId !== undefined ? { ownerId: token.ownerId } : {}),
    ...(token.credentialStamp !== undefined ? { credentialStamp: token.credentialStamp } : {}),
    name: token.name.trim(),
    hash: `sha256:${hashPersonalToken(secret).toString('hex')}`,
    scopes: [...token.scopes],
    created: now.toISOString(),
    expires: token.expires.toISOString(),
  };
  return { token: record, secret };
}

/**
 * Removes the tokens `which` selects (read, then remove: the server holds its shared lock; the
 * removal itself re-reads the file under the file's lock, so a token made meanwhile is kept and no
 * removed one is put back); returns what was removed ([] when nothing matched, and then nothing is
 * written).
 */
export async function removePersonalTokens(
  store: RecordStore<PersonalTokenRecord>,
  which: (token: PersonalTokenRecord) => boolean,
): Promise<PersonalTokenRecord[]> {
  const removed = [...(await store.read()).values()].filter(which);
  if (removed.length > 0) await store.write(new Map(removed.map((token) => [token.id, undefined])));
  return removed;
}
