/**
 * What the gateway remembers of each user who signed in through the OpenID provider: one JSON file,
 * watched (every worker and, on a shared volume, every replica reads it) and replaced atomically
 * under the shared lock.
 *
 *   dataDir/oidc/accounts.json (0600)
 *   {"version":1,"accounts":[{"user":"alice","id":"<uuid>","issuer":"https://…","sub":"…","groups":["team-a"],
 *                             "refresh":"<sealed refresh token>"|null,"checked":"<ISO>","ended":null|{"at":"<ISO>","reason":"…"}}]}
 *
 * `id` is made anew whenever the account starts again (first sign-in, or a sign-in after it ended,
 * or another subject under the same name): sessions and personal tokens carry it, so none made
 * before survives an end. The refresh token is sealed (secret-box.ts) for that user alone.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { writeFileAtomic } from '../../lib/atomic-write.js';
import { errnoCode } from '../../lib/errno.js';
import { PRIVATE_FILE_MODE } from '../../lib/file-modes.js';

const accountRecord = z.strictObject({
  user: z.string().min(1).max(256),
  id: z.string().min(1).max(64),
  issuer: z.string().min(1).max(2048),
  sub: z.string().min(1).max(256),
  groups: z.array(z.string()).max(256),
  refresh: z.string().max(16_384).nullable(),
  checked: z.iso.datetime(),
  ended: z.strictObject({ at: z.iso.datetime(), reason: z.string().max(400) }).nullable(),
});
const storeSchema = z.strictObject({ version: z.literal(1), accounts: z.array(accountRecord) });

export type OidcAccountRecord = z.infer<typeof accountRecord>;

export function parseAccounts(text: string, file: string): OidcAccountRecord[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${file} is not JSON`);
  }
  const parsed = storeSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${file} is not an OpenID Connect account store: ${issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid'}`);
  }
  return parsed.data.accounts;
}

export async function readAccounts(file: string): Promise<OidcAccountRecord[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return [];
    throw error;
  }
  return parseAccounts(text, file);
}

/** Replaces the record of `user` (or removes it, for undefined); the caller holds the store's lock. */
export async function writeAccount(file: string, user: string, record: OidcAccountRecord | undefined): Promise<void> {
  const accounts = (await readAccounts(file)).filter((account) => account.user !== user);
  if (record) accounts.push(record);
  await writeFileAtomic(file, JSON.stringify({ version: 1, accounts }, null, 2) + '\n', { mode: PRIVATE_FILE_MODE });
}
