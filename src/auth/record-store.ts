/**
 * A small keyed store that every worker and replica of one deployment must agree on (personal
 * tokens by id, the OpenID provider's users by name), kept in one of two places:
 *
 * - without `redis`: one JSON file, watched (workers, and replicas on a shared folder, read it) and
 *   replaced atomically. Each write reads the file again and replaces it holding the file's lock
 *   (lib/file-lock.ts), which the `token personal` command takes too: a write never undoes another
 *   process's, so a revocation from the command line is never put back by a server's write. The
 *   server also holds its shared lock around its own read-then-write.
 * - with `redis`: one Redis hash under the deployment's key prefix, field = key, value = the
 *   record as JSON, so replicas that share no folder still agree. Each write changes only its own
 *   fields (HSET/HDEL in one MULTI), then reads the hash again; the change shows to this process's
 *   listeners, and the revocation channel (revocations.ts) tells the other replicas, which read the
 *   hash again at once (and after every reconnect). A field that does not parse is left out and
 *   logged, never taken for another record.
 *
 * Either way requests are answered from the copy in memory (`current`): a Redis outage keeps the
 * last copy working and makes writes fail (RedisUnavailableError: 503), never a hung request.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { writeFileAtomic } from '../lib/atomic-write.js';
import { withFileLock } from '../lib/file-lock.js';
import { errnoCode } from '../lib/errno.js';
import { PRIVATE_FILE_MODE } from '../lib/file-modes.js';
import { WatchedFile, type FileWatchOptions } from '../lib/watched-file.js';
import { isRedisUnavailable, type RedisConnection } from '../redis/connection.js';

export interface RecordStore<T> {
  /** Where the records are kept, for messages and lock names. */
  readonly where: string;
  /** The records as last read. */
  readonly current: ReadonlyMap<string, T>;
  /** The records as they are now at the source (read inside the caller's lock, before a write). */
  read(): Promise<Map<string, T>>;
  /** Replaces records by key (undefined removes one), then reads the source again. */
  write(changes: ReadonlyMap<string, T | undefined>): Promise<void>;
  reload(force?: boolean): Promise<void>;
  onChange(listener: () => void): () => void;
  close(): Promise<void>;
}

export interface RedisRecordStoreOptions<T> {
  readonly redis: RedisConnection;
  /** The hash's name under the key prefix (`personal-tokens`). */
  readonly name: string;
  readonly what: string;
  readonly schema: z.ZodType<T>;
  readonly logger?: Logger | undefined;
}

export class RedisRecordStore<T> implements RecordStore<T> {
  readonly where: string;
  readonly #options: RedisRecordStoreOptions<T>;
  readonly #listeners = new Set<() => void>();
  #current: ReadonlyMap<string, T> = new Map();
  #snapshot = '';
  #closed = false;
  /** Reads started, and the latest one whose answer was taken in. */
  #reads = 0;
  #applied = 0;

  /** Reads the hash; a Redis that is down leaves the store empty until the reconnect reloads it. */
  static async open<T>(options: RedisRecordStoreOptions<T>): Promise<RedisRecordStore<T>> {
    const store = new RedisRecordStore(options);
    try {
      await store.reload();
    } catch (error) {
      if (!isRedisUnavailable(error)) throw error;
      options.logger?.warn(
        { store: store.where },
        `${options.what} not read yet: Redis is unavailable; nothing in it is accepted until it is`,
      );
    }
    return store;
  }

  private constructor(options: RedisRecordStoreOptions<T>) {
    this.#options = options;
    this.where = `redis:${options.redis.key(options.name)}`;
  }

  get current(): ReadonlyMap<string, T> {
    return this.#current;
  }

  async read(): Promise<Map<string, T>> {
    const { redis, name, schema, logger, what } = this.#options;
    const fields = await redis.run((client) => client.hgetall(redis.key(name)));
    const records = new Map<string, T>();
    for (const [key, text] of Object.entries(fields)) {
      const parsed = parseJson(text);
      const record = parsed === undefined ? undefined : schema.safeParse(parsed);
      if (record?.success) records.set(key, record.data);
      else logger?.warn({ store: this.where, field: key.slice(0, 64) }, `${what}: a record that does not parse is left out`);
    }
    return records;
  }

  async write(changes: ReadonlyMap<string, T | undefined>): Promise<void> {
    const { redis, name } = this.#options;
    const key = redis.key(name);
    await redis.run(async (client) => {
      const multi = client.multi();
      for (const [field, record] of changes) {
        if (record === undefined) multi.hdel(key, field);
        else multi.hset(key, field, JSON.stringify(record));
      }
      await multi.exec();
    });
    await this.reload();
  }

  /** Reads the hash again (every reload reads it: there is no cheap "unchanged" to ask Redis for). */
  async reload(): Promise<void> {
    if (this.#closed) return;
    const started = ++this.#reads;
    const records = await this.read();
    // Of reloads that overlap, a later one's answer is never replaced by an earlier one's.
    if (started < this.#applied) return;
    this.#applied = started;
    const snapshot = JSON.stringify([...records].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    if (snapshot === this.#snapshot) return;
    this.#current = records;
    this.#snapshot = snapshot;
    for (const listener of this.#listeners) listener();
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#listeners.clear();
    return Promise.resolve();
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

export interface FileRecordStoreOptions<T> {
  readonly file: string;
  readonly what: string;
  /** The records in the file's text; throws on text that is not such a file. */
  readonly parse: (text: string) => readonly T[];
  /** The file's text for these records. */
  readonly serialize: (records: readonly T[]) => string;
  readonly keyOf: (record: T) => string;
  readonly logger?: Logger | undefined;
  readonly watch?: FileWatchOptions;
}

export class FileRecordStore<T> implements RecordStore<T> {
  readonly where: string;
  readonly #options: FileRecordStoreOptions<T>;
  #file!: WatchedFile<ReadonlyMap<string, T>>;

  static async open<T>(options: FileRecordStoreOptions<T>): Promise<FileRecordStore<T>> {
    const store = new FileRecordStore(options);
    store.#file = await WatchedFile.open<ReadonlyMap<string, T>>({
      file: store.where,
      what: options.what,
      ...(options.logger ? { logger: options.logger } : {}),
      ...options.watch,
      parse: (content) => store.#byKey(options.parse(content.toString('utf8'))),
      whenMissing: () => new Map(),
      // A credentials file that cannot be read accepts nobody until it can be.
      whenUnreadable: { value: () => new Map(), meaning: `nothing in it is accepted until it can be` },
    });
    return store;
  }

  private constructor(options: FileRecordStoreOptions<T>) {
    this.#options = options;
    this.where = resolve(options.file);
  }

  get current(): ReadonlyMap<string, T> {
    return this.#file.current;
  }

  async read(): Promise<Map<string, T>> {
    let text: string;
    try {
      text = await readFile(this.where, 'utf8');
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return new Map();
      throw error;
    }
    return this.#byKey(this.#options.parse(text));
  }

  /** Applies the changes to the file as it is now, under the file's lock (no other process's write in between). */
  async write(changes: ReadonlyMap<string, T | undefined>): Promise<void> {
    await withFileLock(this.where, async () => {
      const records = await this.read();
      for (const [key, record] of changes) {
        if (record === undefined) records.delete(key);
        else records.set(key, record);
      }
      await writeFileAtomic(this.where, this.#options.serialize([...records.values()]), { mode: PRIVATE_FILE_MODE });
    });
    await this.#file.reload(true);
  }

  reload(force = false): Promise<void> {
    return this.#file.reload(force);
  }

  onChange(listener: () => void): () => void {
    return this.#file.onChange(listener);
  }

  close(): Promise<void> {
    return this.#file.close();
  }

  #byKey(records: readonly T[]): Map<string, T> {
    return new Map(records.map((record) => [this.#options.keyOf(record), record]));
  }
}
