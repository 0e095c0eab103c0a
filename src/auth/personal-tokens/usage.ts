/**
 * When each personal token was last used, and from where: kept in memory as requests come, and
 * written at most once per `flushIntervalMs` (and on close), never per request, to
 * `personal-token-usage.json` beside the store, or with `redis` to the hash
 * `PREFIX personal-token-usage` (field = token id). Each process (worker, replica) merges what it
 * saw, keeping the latest use of each token (the file under the shared lock), so the list the UI
 * and the `token personal list` command show is at most one interval behind.
 *
 *   {"version":1,"used":{"<token id>":{"at":"2025-01-31T12:00:00.000Z","client":"192.0.2.7"},…}}
 *
 * Kept apart from the store so that recording uses never looks like a change of tokens.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { writeFileAtomic } from '../../lib/atomic-write.js';
import { withFileLock } from '../../lib/file-lock.js';
import { errnoCode } from '../../lib/errno.js';
import { PRIVATE_FILE_MODE } from '../../lib/file-modes.js';
import type { SectionLock } from '../../lib/section-lock.js';
import type { RedisConnection } from '../../redis/connection.js';

export interface TokenUse {
  /** ISO time. */
  readonly at: string;
  readonly client: string;
}

export const DEFAULT_USAGE_FLUSH_MS = 60_000;
const USAGE_FILE = 'personal-token-usage.json';

/** The usage file that belongs to a store file. */
export function usageFileOf(storeFile: string): string {
  return join(dirname(storeFile), USAGE_FILE);
}

/** The recorded uses ({} when the file does not exist or cannot be read: it is informative only). */
export async function readTokenUsage(file: string): Promise<Map<string, TokenUse>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return new Map();
    throw error;
  }
  const uses = new Map<string, TokenUse>();
  try {
    const parsed = JSON.parse(text) as { version?: unknown; used?: unknown };
    if (parsed.version !== 1 || typeof parsed.used !== 'object' || parsed.used === null) return uses;
    for (const [id, use] of Object.entries(parsed.used as Record<string, unknown>)) addUse(uses, id, use);
  } catch {
    // A damaged usage file loses the history, never a token.
  }
  return uses;
}

function addUse(uses: Map<string, TokenUse>, id: string, use: unknown): void {
  const { at, client } = (use ?? {}) as Record<string, unknown>;
  if (typeof at === 'string' && typeof client === 'string' && !Number.isNaN(Date.parse(at))) uses.set(id, { at, client });
}

/** Where uses are kept: read them all; merge a batch in, keeping each token's latest and only live tokens'. */
export interface UsageBackend {
  readonly where: string;
  read(): Promise<Map<string, TokenUse>>;
  merge(batch: ReadonlyMap<string, TokenUse>, live: ReadonlySet<string>): Promise<void>;
}

/** The usage file beside a file store; merged under the shared lock and the file's lock (replicas on a shared folder). */
export function fileUsage(file: string, lock: SectionLock): UsageBackend {
  return {
    where: file,
    read: () => readTokenUsage(file),
    merge: (batch, live) =>
      lock.run(`personal-token-usage:${file}`, () =>
        withFileLock(file, async () => {
          const uses = await readTokenUsage(file);
          for (const [id, use] of batch) uses.set(id, later(uses.get(id), use) as TokenUse);
          const kept = Object.fromEntries([...uses].filter(([id]) => live.has(id)));
          await writeFileAtomic(file, JSON.stringify({ version: 1, used: kept }) + '\n', { mode: PRIVATE_FILE_MODE });
        }),
      ),
  };
}

/** The hash `PREFIX personal-token-usage`; a field per token. */
export function redisUsage(redis: RedisConnection): UsageBackend {
  const key = redis.key('personal-token-usage');
  const read = async (): Promise<Map<string, TokenUse>> => {
    const uses = new Map<string, TokenUse>();
    for (const [id, text] of Object.entries(await redis.run((client) => client.hgetall(key)))) {
      try {
        addUse(uses, id, JSON.parse(text));
      } catch {
        // a damaged field loses that history only
      }
    }
    return uses;
  };
  return {
    where: `redis:${key}`,
    read,
    async merge(batch, live) {
      const uses = await read();
      const dead = [...uses.keys()].filter((id) => !live.has(id));
      const newer = [...batch].filter(([id, use]) => live.has(id) && later(uses.get(id), use) === use);
      await redis.run(async (client) => {
        const multi = client.multi();
        for (const [id, use] of newer) multi.hset(key, id, JSON.stringify(use));
        if (dead.length > 0) multi.hdel(key, ...dead);
        await multi.exec();
      });
    },
  };
}

function later(a: TokenUse | undefined, b: TokenUse | undefined): TokenUse | undefined {
  if (!a) return b;
  if (!b) return a;
  return Date.parse(b.at) > Date.parse(a.at) ? b : a;
}

export interface TokenUsageOptions {
  readonly backend: UsageBackend;
  /** The ids still in the store: uses of revoked tokens are forgotten when the file is written. */
  readonly liveIds: () => ReadonlySet<string>;
  readonly flushIntervalMs?: number;
  readonly logger?: Logger | undefined;
  readonly now?: () => number;
}

export class TokenUsage {
  readonly #options: TokenUsageOptions;
  readonly #pending = new Map<string, TokenUse>();
  readonly #timer: NodeJS.Timeout;
  #flushing: Promise<void> | undefined;

  constructor(options: TokenUsageOptions) {
    this.#options = options;
    this.#timer = setInterval(() => void this.flush(), options.flushIntervalMs ?? DEFAULT_USAGE_FLUSH_MS);
    this.#timer.unref();
  }

  /** Notes a use; costs a map write. */
  record(id: string, client: string): void {
    this.#pending.set(id, { at: new Date((this.#options.now ?? Date.now)()).toISOString(), client });
  }

  /** What the file says merged with what this process has not written yet. */
  async read(): Promise<Map<string, TokenUse>> {
    const uses = await this.#options.backend.read().catch(() => new Map<string, TokenUse>());
    for (const [id, use] of this.#pending) uses.set(id, later(uses.get(id), use) as TokenUse);
    return uses;
  }

  /** Writes what was recorded since the last time, merged with the file; one flush at a time. */
  flush(): Promise<void> {
    if (this.#pending.size === 0) return this.#flushing ?? Promise.resolve();
    this.#flushing ??= this.#write().finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#flushing;
    await this.flush();
  }

  async #write(): Promise<void> {
    const batch = new Map(this.#pending);
    this.#pending.clear();
    const { backend } = this.#options;
    try {
      await backend.merge(batch, this.#options.liveIds());
    } catch (error) {
      // Informative only: keep the batch for the next flush rather than lose it.
      for (const [id, use] of batch) if (!this.#pending.has(id)) this.#pending.set(id, use);
      this.#options.logger?.warn(
        { store: backend.where, err: error instanceof Error ? error.message : String(error) },
        'token usage not written',
      );
    }
  }
}
