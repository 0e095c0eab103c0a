/**
 * What the queue keeps per webhook beside the segments, and the folder the `registry-gate events`
 * command leaves its replay requests in:
 *
 *   dataDir/events/
 *     queue/                      the segments (segment-log.ts)
 *     cursors/NAME.json           {"seq":N}: every record up to N was delivered (or dead-lettered)
 *     dead/NAME.log               dead letters, framed records, oldest first, at most maxDeadLetters
 *     replay/RANDOM.json          {"webhook":NAME?,"id":ID?|"all":true}: taken by the running server
 *
 * A cursor is written after the delivery it records (atomically), so a crash re-delivers at most
 * what was delivered since: at least once, with the same event id.
 */
import { randomBytes } from 'node:crypto';
import { open, readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { mkdirDurable, writeFileAtomic } from '../lib/atomic-write.js';
import { errnoCode } from '../lib/errno.js';
import { PRIVATE_FILE_MODE } from '../lib/file-modes.js';
import type { RegistryEvent } from './event.js';
import { frameRecord, parseRecords } from './framed-records.js';

export interface EventPaths {
  readonly queue: string;
  readonly cursors: string;
  readonly dead: string;
  readonly replay: string;
}

export function eventPaths(dataDir: string): EventPaths {
  const root = join(dataDir, 'events');
  return { queue: join(root, 'queue'), cursors: join(root, 'cursors'), dead: join(root, 'dead'), replay: join(root, 'replay') };
}

export async function readCursor(paths: EventPaths, webhook: string): Promise<number | undefined> {
  try {
    const value = (JSON.parse(await readFile(join(paths.cursors, `${webhook}.json`), 'utf8')) as { seq?: unknown }).seq;
    return typeof value === 'number' && Number.isSafeInteger(value) ? value : undefined;
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}

export function writeCursor(paths: EventPaths, webhook: string, seq: number): Promise<void> {
  return writeFileAtomic(join(paths.cursors, `${webhook}.json`), JSON.stringify({ seq }));
}

export interface DeadLetter {
  readonly event: RegistryEvent;
  readonly webhook: string;
  readonly attempts: number;
  /** The last failure: a status (`HTTP 500`), `timeout`, `redirect`, or a network error's code. */
  readonly error: string;
  readonly failedAt: string;
}

function deadFile(paths: EventPaths, webhook: string): string {
  return join(paths.dead, `${webhook}.log`);
}

/** Every webhook's dead letters (or `webhook`'s), oldest first. */
export async function readDeadLetters(paths: EventPaths, webhook?: string): Promise<DeadLetter[]> {
  const names = webhook
    ? [`${webhook}.log`]
    : (await readdir(paths.dead).catch(() => [] as string[])).filter((name) => name.endsWith('.log'));
  const letters: DeadLetter[] = [];
  for (const name of names.sort()) {
    const bytes = await readFile(join(paths.dead, name)).catch((error: unknown) => {
      if (errnoCode(error) === 'ENOENT') return Buffer.alloc(0);
      throw error;
    });
    letters.push(...parseRecords<DeadLetter>(bytes).values);
  }
  return letters;
}

/** Appends one dead letter durably; past `max`, the oldest are dropped (their count is returned). */
export async function appendDeadLetter(paths: EventPaths, letter: DeadLetter, max: number, held: number): Promise<number> {
  await mkdirDurable(paths.dead);
  const file = deadFile(paths, letter.webhook);
  if (held < max) {
    const handle = await open(file, 'a', PRIVATE_FILE_MODE);
    try {
      await handle.writeFile(frameRecord(letter));
      await handle.datasync();
    } finally {
      await handle.close();
    }
    return 0;
  }
  const kept = [...(await readDeadLetters(paths, letter.webhook)), letter];
  const dropped = kept.length - max;
  await writeFileAtomic(file, kept.slice(Math.max(0, dropped)).map(frameRecord).join(''));
  return Math.max(0, dropped);
}

/** Rewrites `webhook`'s dead letters without those `remove` picks; returns the removed ones. */
export async function takeDeadLetters(paths: EventPaths, webhook: string, remove: (letter: DeadLetter) => boolean): Promise<DeadLetter[]> {
  const all = await readDeadLetters(paths, webhook);
  const taken = all.filter(remove);
  if (taken.length > 0)
    await writeFileAtomic(
      deadFile(paths, webhook),
      all
        .filter((letter) => !remove(letter))
        .map(frameRecord)
        .join(''),
    );
  return taken;
}

export interface ReplayRequest {
  readonly webhook?: string | undefined;
  /** An event id, or every dead letter (`all`). */
  readonly id?: string | undefined;
  readonly all?: boolean | undefined;
}

/** Leaves a replay request for the server (the `registry-gate events replay` command). */
export async function requestReplay(paths: EventPaths, request: ReplayRequest): Promise<void> {
  await mkdirDurable(paths.replay);
  await writeFileAtomic(join(paths.replay, `${Date.now()}-${randomBytes(6).toString('hex')}.json`), JSON.stringify(request));
}

/** The replay requests waiting, each removed as it is taken, oldest first. */
export async function takeReplayRequests(paths: EventPaths): Promise<ReplayRequest[]> {
  const names = (await readdir(paths.replay).catch(() => [] as string[])).filter((name) => /^\d+-[0-9a-f]{12}\.json$/.test(name)).sort();
  const requests: ReplayRequest[] = [];
  for (const name of names) {
    const path = join(paths.replay, name);
    try {
      requests.push(JSON.parse(await readFile(path, 'utf8')) as ReplayRequest);
    } catch {
      // Not a request this server wrote: removed, as it would be refused again at every look.
    }
    await unlink(path).catch(() => undefined);
  }
  return requests;
}
