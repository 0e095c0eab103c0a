/**
 * The personal token store: one JSON file, replaced atomically, read by the server (watched) and
 * by the `token personal` command. It holds what a token is for and the SHA-256 of its secret,
 * never the secret.
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
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { writeFileAtomic } from '../../lib/atomic-write.js';
import { errnoCode } from '../../lib/errno.js';
import { PRIVATE_FILE_MODE } from '../../lib/file-modes.js';
import { hasTerminalControl } from '../../lib/terminal-safe.js';
import { parseRobotScope } from '../token/robots.js';
import { hashPersonalToken, newPersonalTokenSecret } from './secret.js';

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
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${file} is not JSON`);
  }
  const parsed = storeSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${file} is not a personal token store: ${issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid'}`);
  }
  return parsed.data.tokens;
}

/** The tokens in `file` ([] when it does not exist). */
export async function readPersonalTokens(file: string): Promise<PersonalTokenRecord[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return [];
    throw error;
  }
  return parsePersonalTokens(text, file);
}

async function writePersonalTokens(file: string, tokens: readonly PersonalTokenRecord[]): Promise<void> {
  await writeFileAtomic(file, JSON.stringify({ version: 1, tokens }, null, 2) + '\n', { mode: PRIVATE_FILE_MODE });
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
 * Adds a token to the store (read, add, replace: the caller holds the store's lock); the secret is
 * returned here and nowhere else. Throws an Error whose message names the problem with the input.
 */
export async function createPersonalToken(file: string, token: NewPersonalToken): Promise<{ token: PersonalTokenRecord; secret: string }> {
  const now = token.now ?? new Date();
  const problem = personalTokenProblem(token, now);
  if (problem) throw new Error(problem);
  const tokens = await readPersonalTokens(file);
  if (tokens.filter((existing) => existing.owner === token.owner).length >= token.maxPerOwner)
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
  await writePersonalTokens(file, [...tokens, record]);
  return { token: record, secret };
}

/**
 * Removes the tokens `which` selects (read, filter, replace: the caller holds the store's lock, or
 * is the `token personal` command); returns what was removed ([] when nothing matched, and then the
 * file is not written).
 */
export async function removePersonalTokens(file: string, which: (token: PersonalTokenRecord) => boolean): Promise<PersonalTokenRecord[]> {
  const tokens = await readPersonalTokens(file);
  const removed = tokens.filter(which);
  if (removed.length > 0)
    await writePersonalTokens(
      file,
      tokens.filter((token) => !which(token)),
    );
  return removed;
}
