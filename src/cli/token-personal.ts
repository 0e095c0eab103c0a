/**
 * `registry-gate token personal list|revoke`: the personal access tokens users made in the web UI,
 * for administrators, next to the robot commands. The store is `--store FILE`, else the one `serve`
 * uses with the config: with `redis`, the Redis hash (`PREFIX personal-tokens`), else
 * `auth.tokens.store` (default dataDir/tokens/personal-tokens.json); each command says which it used. Nothing printed contains a secret (the store has none) or
 * its hash. A revocation applies within 2 seconds in every server watching the file, and at once
 * on replicas told through Redis when the config names it. The file is changed under its lock
 * (lib/file-lock.ts), which the servers take too: a server's write never puts a revoked token back.
 * Exit status: 0 done; 1 no such token; 2 the command could not do its job.
 */
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { CliFailure, guard, TOOL_FAILURE } from './_failure.js';
import { CONFIG_FILE_VARIABLE } from '../config/env.js';
import { loadConfig } from '../config/load.js';
import {
  listed,
  openPersonalTokenStore,
  removePersonalTokens,
  type ListedPersonalToken,
  type PersonalTokenRecord,
} from '../auth/personal-tokens/records.js';
import { fileUsage, redisUsage, usageFileOf, type TokenUse, type UsageBackend } from '../auth/personal-tokens/usage.js';
import type { RecordStore } from '../auth/record-store.js';
import { describeRedis } from '../config/schema/redis.js';
import { KeyedLock } from '../lib/section-lock.js';
import { silentLoggers } from '../log.js';
import { RedisConnection } from '../redis/connection.js';
import { publishFilesChanged, publishFromCommand } from '../auth/revocations.js';
import { sharedRedisConfig } from '../auth/deployment-key.js';

interface Flags {
  config?: string;
  store?: string;
}

interface Store {
  readonly records: RecordStore<PersonalTokenRecord>;
  readonly usage: UsageBackend;
  readonly origin: string;
  readonly maxLifetimeMs: number;
  /** Tells the servers of a change: through Redis when the store is there or the config names it. */
  announce(): Promise<'published' | 'no-redis' | 'unavailable'>;
  close(): Promise<void>;
}

/** The store `serve` uses with this config (or `--store FILE`): with `redis`, the Redis hash; else the file. */
async function openStore(flags: Flags): Promise<Store> {
  const config = await loadConfig({ file: flags.config });
  const maxLifetimeMs = config.auth.tokens.maxLifetime;
  const redisConfig = await sharedRedisConfig(config);
  const configOrigin =
    config.source === undefined
      ? `no config file given with -c or ${CONFIG_FILE_VARIABLE}; the default, as for serve without one`
      : `from the config ${config.source}`;
  if (flags.store !== undefined || !redisConfig) {
    const file = flags.store !== undefined ? resolve(flags.store) : config.auth.tokens.store;
    const records = await openPersonalTokenStore({ file, watch: { watch: false, poll: false } });
    return {
      records,
      usage: fileUsage(usageFileOf(file), new KeyedLock()),
      origin: flags.store !== undefined ? 'given with --store' : configOrigin,
      maxLifetimeMs,
      announce: () => publishFromCommand(redisConfig, publishFilesChanged),
      close: () => records.close(),
    };
  }
  // A command says what happened itself; the connection's own log lines are for servers.
  const redis = await RedisConnection.open({ config: redisConfig, logger: silentLoggers().app });
  if (!redis.available) {
    redis.close();
    throw new CliFailure(`error: the personal tokens are kept in Redis (${describeRedis(redisConfig.url)}), which is unavailable`, 2);
  }
  const records = await openPersonalTokenStore({ file: config.auth.tokens.store, redis });
  return {
    records,
    usage: redisUsage(redis),
    origin: configOrigin,
    maxLifetimeMs,
    announce: async () => {
      await publishFilesChanged(redis);
      return 'published';
    },
    close: async () => {
      await records.close();
      redis.close();
    },
  };
}

const where = (store: Store) => `${store.records.where} (${store.origin})`;

interface Row extends ListedPersonalToken {
  readonly endsAt: string;
  readonly lastUsed: TokenUse | null;
}

function rowOf(token: ListedPersonalToken, store: Store, uses: ReadonlyMap<string, TokenUse>): Row {
  const endsAt = Math.min(Date.parse(token.expires), Date.parse(token.created) + store.maxLifetimeMs);
  return { ...token, endsAt: new Date(endsAt).toISOString(), lastUsed: uses.get(token.id) ?? null };
}

function line(row: Row, now: number): string {
  const ends = Date.parse(row.endsAt) <= now ? `EXPIRED ${row.endsAt}` : `expires ${row.endsAt}`;
  const used = row.lastUsed ? `last used ${row.lastUsed.at} from ${row.lastUsed.client}` : 'never used';
  return `${row.id}\t${row.owner}\t${row.name}\t${row.scopes.join(' ')}\tcreated ${row.created}\t${ends}\t${used}\n`;
}

type Io = { stdout: { write(text: string): unknown }; stderr: { write(text: string): unknown } };

const configOption = () =>
  new Option('-c, --config <file>', `YAML configuration file, the one serve reads (default: $${CONFIG_FILE_VARIABLE}, else none)`);
const storeOption = () => new Option('--store <file>', 'token store (default: auth.tokens.store, or dataDir/tokens/personal-tokens.json)');

function listCommand({ stdout, stderr }: Io): Command {
  const say = (text: string): void => void stderr.write(text + '\n');
  return new Command('list')
    .configureOutput({ writeOut: (text) => void stdout.write(text), writeErr: (text) => void stderr.write(text) })
    .description('List personal tokens (never their secrets): owner, name, scopes, created, expiry, last use')
    .option('--user <name>', 'only this user’s tokens')
    .option('--json', 'one JSON array')
    .addOption(storeOption())
    .addOption(configOption())
    .action(
      guard(TOOL_FAILURE, async function (flags: Flags & { user?: string; json?: boolean }) {
        const store = await openStore(flags);
        let rows: Row[];
        try {
          const uses = await store.usage.read();
          rows = [...(await store.records.read()).values()]
            .filter((token) => flags.user === undefined || token.owner === flags.user)
            .map((token) => rowOf(listed(token), store, uses));
        } finally {
          await store.close();
        }
        const whose = flags.user === undefined ? '' : ` of ${flags.user}`;
        const count = `${rows.length} personal token${rows.length === 1 ? '' : 's'}`;
        say(rows.length === 0 ? `No personal tokens${whose} in ${where(store)}.` : `${count}${whose} in ${where(store)}:`);
        if (flags.json) {
          stdout.write(JSON.stringify(rows, null, 2) + '\n');
          return;
        }
        const now = Date.now();
        for (const row of rows) stdout.write(line(row, now));
      }),
    );
}

function revokeCommand({ stdout, stderr }: Io): Command {
  const say = (text: string): void => void stderr.write(text + '\n');
  return new Command('revoke')
    .configureOutput({ writeOut: (text) => void stdout.write(text), writeErr: (text) => void stderr.write(text) })
    .description('Delete one personal token of a user, or all of them (servers stop accepting them within 2 seconds)')
    .requiredOption('--user <name>', 'the tokens’ owner')
    .option('--id <id>', 'the token to revoke (from list)')
    .option('--all', 'every token of the user')
    .addOption(storeOption())
    .addOption(configOption())
    .action(
      guard(TOOL_FAILURE, async function (flags: Flags & { user: string; id?: string; all?: boolean }) {
        if ((flags.id === undefined) === (flags.all !== true)) throw new CliFailure('error: give either --id ID or --all', 2);
        const store = await openStore(flags);
        try {
          const which = (token: ListedPersonalToken) => token.owner === flags.user && (flags.all === true || token.id === flags.id);
          const removed = await removePersonalTokens(store.records, which);
          if (removed.length === 0) throw new CliFailure(`no such personal token of ${flags.user} in ${where(store)}`, 1);
          for (const token of removed) stdout.write(`${token.id}\t${token.owner}\t${token.name}\n`);
          say(`Revoked ${removed.length} personal token${removed.length === 1 ? '' : 's'} of ${flags.user} in ${where(store)}.`);
          await tellServers(store, say);
        } finally {
          await store.close();
        }
      }),
    );
}

async function tellServers(store: Store, say: (text: string) => void): Promise<void> {
  const outcome = await store.announce();
  if (outcome === 'published') say('Published to every replica through Redis.');
  if (outcome === 'unavailable')
    say('Redis is unavailable: replicas see the change when they re-read the file (within 2 seconds where they share it).');
}

export function personalTokenCommand(io: Io): Command {
  const { stdout, stderr } = io;
  return new Command('personal')
    .description("Users' personal access tokens (made in the web UI): list them with their last use, revoke them")
    .configureOutput({ writeOut: (text) => void stdout.write(text), writeErr: (text) => void stderr.write(text) })
    .addHelpText(
      'after',
      `
Examples:
  registry-gate token personal list --user alice -c registry-gate.yaml
  registry-gate token personal revoke --user alice --id 9f2c4e1a7b3d5c60 -c registry-gate.yaml
  registry-gate token personal revoke --user alice --all -c registry-gate.yaml`,
    )
    .addCommand(listCommand(io))
    .addCommand(revokeCommand(io));
}
