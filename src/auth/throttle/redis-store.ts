/**
 * The throttle's counters in Redis, shared by every replica (shared-store.ts holds the rules of the
 * exchange). Each record is one string key, `PREFIX throttle:<kind>:<h>`, holding `<version>:<json>`;
 * the three of an update are read with MGET and written back with a compare-and-set script that
 * fails if another replica changed any of them meanwhile. Keys expire (PX) when nothing in them
 * matters any more.
 */
import type { Redis } from 'ioredis';
import { isRedisUnavailable, type RedisConnection } from '../../redis/connection.js';
import { RedisScript } from '../../redis/script.js';
import type { ThrottleConfig } from '../../config/schema/throttle.js';
import { SharedCounterStore, type RecordWrite, type StoredRecord, type VersionedRecords } from './shared-store.js';

/** Writes the counters only if each still has the version read; a TTL of 0 deletes. */
const COMPARE_AND_SET = new RedisScript(`
for i = 1, #KEYS do
  local current = redis.call('GET', KEYS[i])
  local version = 0
  if current then version = tonumber(string.match(current, '^(%d+):')) or 0 end
  if version ~= tonumber(ARGV[3 * i - 2]) then return 0 end
end
for i = 1, #KEYS do
  local ttl = tonumber(ARGV[3 * i])
  if ttl > 0 then redis.call('SET', KEYS[i], ARGV[3 * i - 1], 'PX', ttl) else redis.call('DEL', KEYS[i]) end
end
return 1
`);

/** `<version>:<value>`; a value without a version (another program's) reads as version 0. */
function parseStored(stored: string | null): StoredRecord {
  if (stored === null) return { version: 0, value: null };
  const match = /^(\d+):/.exec(stored);
  return match ? { version: Number(match[1]), value: stored.slice(match[0].length) } : { version: 0, value: stored };
}

class RedisRecords implements VersionedRecords {
  constructor(private readonly redis: RedisConnection) {}

  async read(names: readonly string[]): Promise<StoredRecord[] | 'unavailable'> {
    const values = await this.command((client) => client.mget(...names.map((name) => this.redis.key(name))));
    return values === 'unavailable' ? values : values.map(parseStored);
  }

  async writeIfUnchanged(names: readonly string[], writes: readonly RecordWrite[]): Promise<'written' | 'changed' | 'unavailable'> {
    const args = writes.flatMap(({ version, value, ttlMs }) => [version, `${version + 1}:${value}`, ttlMs]);
    const keys = names.map((name) => this.redis.key(name));
    const written = await this.command((client) => COMPARE_AND_SET.run(client, keys, args));
    if (written === 'unavailable') return written;
    return written === 1 ? 'written' : 'changed';
  }

  private async command<T>(commands: (client: Redis) => Promise<T>): Promise<T | 'unavailable'> {
    try {
      return await this.redis.run(commands);
    } catch (error) {
      if (isRedisUnavailable(error)) return 'unavailable';
      throw error;
    }
  }
}

export class RedisCounterStore extends SharedCounterStore {
  constructor(redis: RedisConnection, config: ThrottleConfig) {
    super(new RedisRecords(redis), config);
  }
}
