/**
 * Sessions ended by logout, until they would have expired anyway. Kept in memory and in
 * `dataDir/ui/revoked-sessions.json` (0600), which every worker process watches, so a logout in
 * one worker ends the session in all of them within 2 seconds (at once in the one that served it).
 * Writes are read-modify-replace under the server's process-shared lock, so no logout is lost; the
 * file holds only unexpired entries.
 *
 *   {"version":1,"revoked":{"<sid>":<expiry ms>,…}}
 */
import { readFile } from 'node:fs/promises';
import { errnoCode } from '../lib/errno.js';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { FileWatch } from '../lib/watched-file.js';
import { writeFileAtomic } from '../lib/atomic-write.js';
import type { SectionLock } from '../server/keyed-lock.js';

const FILE = 'revoked-sessions.json';

async function readRevoked(file: string): Promise<Map<string, number>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return new Map();
    throw error;
  }
  const parsed = JSON.parse(text) as { version?: unknown; revoked?: unknown };
  const revoked = new Map<string, number>();
  if (parsed.version !== 1 || typeof parsed.revoked !== 'object' || parsed.revoked === null)
    throw new Error(`${file} is not a revoked-session list`);
  const now = Date.now();
  for (const [sid, expiresAt] of Object.entries(parsed.revoked))
    if (typeof expiresAt === 'number' && expiresAt > now) revoked.set(sid, expiresAt);
  return revoked;
}

export class RevokedSessions {
  readonly #file: string;
  readonly #lock: SectionLock;
  readonly #logger: Logger | undefined;
  #revoked = new Map<string, number>();
  #watch: FileWatch | undefined;

  private constructor(dir: string, lock: SectionLock, logger: Logger | undefined) {
    this.#file = join(dir, FILE);
    this.#lock = lock;
    this.#logger = logger;
  }

  static async open(dir: string, lock: SectionLock, logger?: Logger): Promise<RevokedSessions> {
    const store = new RevokedSessions(dir, lock, logger);
    await store.#load();
    store.#watch = new FileWatch(store.#file, () => store.#load());
    await store.#watch.prime();
    return store;
  }

  has(sid: string): boolean {
    const expiresAt = this.#revoked.get(sid);
    return expiresAt !== undefined && expiresAt > Date.now();
  }

  async revoke(sid: string, expiresAt: number): Promise<void> {
    this.#revoked.set(sid, expiresAt);
    await this.#lock.run(`ui-sessions:${this.#file}`, async () => {
      const current = await readRevoked(this.#file).catch(() => new Map<string, number>());
      current.set(sid, expiresAt);
      await writeFileAtomic(this.#file, JSON.stringify({ version: 1, revoked: Object.fromEntries(current) }) + '\n');
      for (const [id, at] of current) this.#revoked.set(id, at);
    });
  }

  async close(): Promise<void> {
    await this.#watch?.close();
  }

  async #load(): Promise<void> {
    try {
      const loaded = await readRevoked(this.#file);
      // Never forget a revocation this process made itself while the file was being replaced.
      const now = Date.now();
      for (const [sid, expiresAt] of this.#revoked) if (expiresAt > now && !loaded.has(sid)) loaded.set(sid, expiresAt);
      this.#revoked = loaded;
    } catch (error) {
      this.#logger?.warn(
        { file: this.#file, err: error instanceof Error ? error.message : String(error) },
        'revoked UI sessions unreadable; keeping the last copy',
      );
    }
  }
}
