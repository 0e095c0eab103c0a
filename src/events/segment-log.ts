/**
 * The queue's bytes on disk: append-only segment files, each named by the sequence number of its
 * first record, in framed records (framed-records.ts).
 *
 *   dataDir/events/queue/
 *     0000000000000001.log     {"seq":1,"event":{…}} …   (removed once every webhook is past its last record)
 *     0000000000004711.log     the segment appended to
 *
 * An append is one write(2) of a whole batch and one fdatasync: the caller acknowledges nothing
 * before it resolves. A new segment is begun once the current one passes SEGMENT_BYTES, so whole
 * files can be removed instead of a file rewritten. At open, a torn last record (a crash in the
 * middle of an append that was never acknowledged) is cut off so the next append starts on a line.
 */
import { open, readdir, readFile, truncate, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDir, mkdirDurable } from '../lib/atomic-write.js';
import { PRIVATE_FILE_MODE } from '../lib/file-modes.js';
import type { RegistryEvent } from './event.js';
import { frameRecord, parseRecords } from './framed-records.js';

/** A segment this large is closed and a new one begun. */
const SEGMENT_BYTES = 4 * 1024 * 1024;
const SEGMENT_NAME = /^(\d{16})\.log$/;

export interface QueuedRecord {
  readonly seq: number;
  readonly event: RegistryEvent;
  /** Only this webhook (a dead letter replayed to it); absent: every webhook that wants the event. */
  readonly only?: string | undefined;
}

interface Segment {
  readonly firstSeq: number;
  readonly path: string;
  lastSeq: number;
}

export interface OpenedLog {
  readonly log: SegmentLog;
  readonly records: QueuedRecord[];
  readonly damaged: number;
  readonly torn: boolean;
}

function segmentName(firstSeq: number): string {
  return `${String(firstSeq).padStart(16, '0')}.log`;
}

/** The records of every segment in `dir`, oldest first (for the queue at start, and `registry-gate events`). */
export async function readSegments(dir: string): Promise<{ segments: Segment[]; opened: Omit<OpenedLog, 'log'>; tailBytes: number }> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((name) => SEGMENT_NAME.test(name)).sort();
  const segments: Segment[] = [];
  const records: QueuedRecord[] = [];
  let damaged = 0;
  let torn = false;
  let tailBytes = 0;
  for (const [index, name] of names.entries()) {
    const path = join(dir, name);
    const parsed = parseRecords<QueuedRecord>(await readFile(path));
    damaged += parsed.damaged;
    const last = index === names.length - 1;
    if (parsed.torn && last) torn = true;
    else if (parsed.torn) damaged += 1;
    if (last) tailBytes = parsed.validBytes;
    const firstSeq = Number(SEGMENT_NAME.exec(name)?.[1]);
    const lastSeq = parsed.values.at(-1)?.seq ?? firstSeq - 1;
    segments.push({ firstSeq, path, lastSeq });
    records.push(...parsed.values);
  }
  return { segments, opened: { records, damaged, torn }, tailBytes };
}

export class SegmentLog {
  readonly #dir: string;
  readonly #segments: Segment[];
  #handle: FileHandle | undefined;
  #size: number;

  private constructor(dir: string, segments: Segment[], size: number) {
    this.#dir = dir;
    this.#segments = segments;
    this.#size = size;
  }

  static async open(dir: string): Promise<OpenedLog> {
    await mkdirDurable(dir);
    const { segments, opened, tailBytes } = await readSegments(dir);
    const tail = segments.at(-1);
    if (tail && opened.torn) await truncate(tail.path, tailBytes);
    const log = new SegmentLog(dir, segments, tail ? tailBytes : 0);
    return { log, ...opened };
  }

  /** Appends `records` (ascending, after every record already there) and makes them durable. */
  async append(records: readonly QueuedRecord[]): Promise<void> {
    const first = records[0];
    if (!first) return;
    const handle = await this.#writable(first.seq);
    const bytes = Buffer.from(records.map((record) => frameRecord(record)).join(''));
    try {
      await handle.writeFile(bytes);
      await handle.datasync();
    } catch (error) {
      // What part of the batch reached the file is unknown: the next batch begins a segment of its own.
      await handle.close().catch(() => undefined);
      this.#handle = undefined;
      this.#size = SEGMENT_BYTES;
      throw error;
    }
    this.#size += bytes.length;
    const tail = this.#segments.at(-1);
    if (tail) tail.lastSeq = (records.at(-1) as QueuedRecord).seq;
  }

  /** Removes every segment whose records all have seq ≤ `seq` (but never the one appended to). */
  async dropThrough(seq: number): Promise<void> {
    let removed = false;
    while (this.#segments.length > 1 && (this.#segments[0] as Segment).lastSeq <= seq) {
      const segment = this.#segments.shift() as Segment;
      await unlink(segment.path).catch(() => undefined);
      removed = true;
    }
    if (removed) await fsyncDir(this.#dir);
  }

  async close(): Promise<void> {
    await this.#handle?.close();
    this.#handle = undefined;
  }

  /** The segment to append to: the current one, or a new one once it is full (or there is none). */
  async #writable(firstSeq: number): Promise<FileHandle> {
    if (this.#segments.length > 0 && this.#size < SEGMENT_BYTES) {
      this.#handle ??= await open((this.#segments.at(-1) as Segment).path, 'a', PRIVATE_FILE_MODE);
      return this.#handle;
    }
    await this.#handle?.close();
    const path = join(this.#dir, segmentName(firstSeq));
    this.#handle = await open(path, 'a', PRIVATE_FILE_MODE);
    await fsyncDir(this.#dir);
    this.#segments.push({ firstSeq, path, lastSeq: firstSeq - 1 });
    this.#size = 0;
    return this.#handle;
  }
}
