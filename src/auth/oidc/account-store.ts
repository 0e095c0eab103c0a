/**
 * What the gateway remembers of each user who signed in through the OpenID provider: one JSON file,
 * watched (every worker and, on a shared volume, every replica reads it) and replaced atomically
 * under the shared lock; or with `redis` the hash `PREFIX oidc-accounts` (field = user name, value =
 * the record's JSON), so replicas that share no folder agree (../record-store.ts).
 *
 *   dataDir/oidc/accounts.json (0600)
 *   {"version":1,"accounts":[{"user":"alice","id":"<uuid>","issuer":"https://…","sub":"…","groups":["team-a"],
 *                             "refresh":"<sealed refresh token>"|null,"checked":"<ISO>","ended":null|{"at":"<ISO>","reason":"…"}}]}
 *
 * `id` is made anew whenever the account starts again (first sign-in, or a sign-in after it ended,
 * or another subject under the same name): sessions and personal tokens carry it, so none made
 * before survives an end. The refresh token is sealed (secret-box.ts) for that user alone.
 */
import type { Logger } from 'pino';
import { z } from 'zod';
import type { RedisConnection } from '../../redis/connection.js';
import { FileRecordStore, RedisRecordStore, type RecordStore } from '../record-store.js';
import { parseJsonFile } from '../../lib/json-file.js';

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
  return parseJsonFile(text, file, storeSchema, 'an OpenID Connect account store').accounts;
}

export interface AccountStoreOptions {
  readonly file: string;
  readonly redis?: RedisConnection | undefined;
  readonly logger?: Logger | undefined;
}

/** The hash `PREFIX oidc-accounts` with `redis`, else the file. */
export async function openAccountStore(options: AccountStoreOptions): Promise<RecordStore<OidcAccountRecord>> {
  const what = 'OpenID Connect account store';
  if (options.redis)
    return RedisRecordStore.open({ redis: options.redis, name: 'oidc-accounts', what, schema: accountRecord, logger: options.logger });
  return FileRecordStore.open({
    file: options.file,
    what,
    parse: (text) => parseAccounts(text, options.file),
    serialize: (accounts) => JSON.stringify({ version: 1, accounts }, null, 2) + '\n',
    keyOf: (account) => account.user,
    logger: options.logger,
  });
}
