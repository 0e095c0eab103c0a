/**
 * Writes content arriving from an upstream into the cache, hashing it on the way: the temp file is
 * renamed under its digest only when the bytes match it (and the length the upstream declared),
 * else it is removed, and the mismatch is logged and counted.
 *
 * The client whose request started the fill can read along (`ClientTap`): it gets each chunk once
 * the next one has arrived, and the last one only after the digest matched. So a client never
 * receives a complete body that does not match its digest: on a mismatch or a broken upstream body
 * its connection is destroyed one chunk short. A client that goes away is let go; the fill goes on
 * for those waiting for it.
 */
import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { newHash, type Digest } from '../filesystem/digest.js';
import type { CacheObserver, ContentKind, ContentStore, PendingFill } from './content-store.js';
import type { FillOutcome, LiveFill } from './live-fills.js';

export type { FillOutcome } from './live-fills.js';

/** The client response a fill streams to, one chunk behind, with backpressure. */
export class ClientTap {
  readonly #res: ServerResponse;
  #held: Buffer | undefined;
  #gone = false;

  constructor(res: ServerResponse) {
    this.#res = res;
    res.once('close', () => {
      if (!res.writableFinished) this.#gone = true;
    });
  }

  /** Sends the chunk held back and holds this one; waits while the client's socket is full. */
  async push(chunk: Buffer): Promise<void> {
    const previous = this.#held;
    this.#held = chunk;
    if (previous === undefined || this.#gone) return;
    if (this.#res.write(previous)) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        this.#res.off('drain', done);
        this.#res.off('close', done);
        resolve();
      };
      this.#res.on('drain', done);
      this.#res.on('close', done);
    });
  }

  /** The content matched: the last chunk goes out and the response ends. */
  finish(): void {
    if (this.#gone) return;
    this.#res.end(this.#held);
  }

  /** The content did not match or did not arrive whole: the client sees a cut connection. */
  cut(): void {
    this.#res.destroy();
  }
}

export interface FillSource {
  readonly kind: ContentKind;
  readonly digest: Digest;
  readonly body: AsyncIterable<Buffer>;
  /** The upstream's Content-Length, when it gave one. */
  readonly declaredSize: number | undefined;
  /** Stored before the bytes and not hashed (a manifest's media type line). */
  readonly prefix?: Buffer;
  /** More bytes than this and the fill is abandoned (manifests: MAX_MANIFEST_BYTES); never more than the cache's size. */
  readonly maxBytes?: number;
}

/** Bytes gathered before one write to the temp file: a few large writes rather than one per network chunk. */
const WRITE_BATCH_BYTES = 1024 * 1024;
/** Bytes received and not yet on disk, at most: past it, reading the upstream waits for the disk. */
const MAX_UNWRITTEN_BYTES = 4 * 1024 * 1024;

/**
 * Writes a fill's bytes to its temp file in batches, one write at a time in order, while the
 * upstream body goes on arriving: the disk and the network overlap instead of taking turns.
 */
class BatchedWriter {
  readonly #handle: PendingFill['handle'];
  #position: number;
  #batch: Buffer[] = [];
  #batchBytes = 0;
  #unwritten = 0;
  #writing: Promise<void> = Promise.resolve();
  #failure: Error | undefined;
  readonly #written: (end: number) => void;

  constructor(handle: PendingFill['handle'], position: number, written: (end: number) => void) {
    this.#handle = handle;
    this.#position = position;
    this.#written = written;
  }

  async add(chunk: Buffer): Promise<void> {
    this.#batch.push(chunk);
    this.#batchBytes += chunk.length;
    this.#unwritten += chunk.length;
    if (this.#batchBytes >= WRITE_BATCH_BYTES) this.#flush();
    if (this.#unwritten > MAX_UNWRITTEN_BYTES) await this.#writing;
    this.#throwIfFailed();
  }

  /** Everything added is on disk (or the first write failure is thrown). */
  async finish(): Promise<void> {
    this.#flush();
    await this.#writing;
    this.#throwIfFailed();
  }

  #flush(): void {
    if (this.#batchBytes === 0) return;
    const bytes = this.#batch.length === 1 ? (this.#batch[0] as Buffer) : Buffer.concat(this.#batch, this.#batchBytes);
    const position = this.#position;
    this.#position += bytes.length;
    this.#batch = [];
    this.#batchBytes = 0;
    this.#writing = this.#writing.then(async () => {
      if (this.#failure !== undefined) return;
      try {
        await writeAll(this.#handle, bytes, position);
        this.#unwritten -= bytes.length;
        this.#written(position + bytes.length);
      } catch (error) {
        this.#failure = error instanceof Error ? error : new Error(String(error));
      }
    });
  }

  #throwIfFailed(): void {
    if (this.#failure !== undefined) throw this.#failure;
  }
}

async function writeAll(handle: PendingFill['handle'], bytes: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, position + done);
    done += bytesWritten;
  }
}

export async function fillVerified(
  store: ContentStore,
  source: FillSource,
  tap: ClientTap | undefined,
  context: { logger: Logger; observer: CacheObserver | undefined; upstreamPath: string; live?: LiveFill | undefined },
): Promise<FillOutcome> {
  const pending = await store.beginFill(source.kind, source.digest);
  const hash = newHash(source.digest.algorithm);
  const prefixSize = source.prefix?.length ?? 0;
  // No fill writes more than the cache may hold, nor more than the upstream said it would send.
  const limit = Math.min(source.maxBytes ?? store.maxBytes, store.maxBytes, source.declaredSize ?? store.maxBytes);
  const { live } = context;
  if (source.declaredSize !== undefined && prefixSize === 0) live?.began(pending.path, source.declaredSize);
  const writer = new BatchedWriter(pending.handle, prefixSize, (end) => live?.advanced(end - prefixSize));
  let size = 0;
  try {
    if (source.prefix) await writeAll(pending.handle, source.prefix, 0);
    for await (const chunk of source.body) {
      hash.update(chunk);
      context.observer?.fetched(chunk.length);
      if (size + chunk.length > limit) throw new RangeError(`more than ${limit} bytes`);
      size += chunk.length;
      await writer.add(chunk);
      await tap?.push(chunk);
    }
    await writer.finish();
  } catch (error) {
    return failed(pending, tap, live, 'broken', () => {
      context.logger.warn({ err: error, digest: source.digest.value, path: context.upstreamPath }, 'cache: the upstream body broke off');
    });
  }
  const actual = hash.digest('hex');
  if (actual !== source.digest.hex || (source.declaredSize !== undefined && size !== source.declaredSize)) {
    return failed(pending, tap, live, 'mismatch', () => {
      context.observer?.mismatch();
      context.logger.error(
        { digest: source.digest.value, actual: `${source.digest.algorithm}:${actual}`, size, path: context.upstreamPath },
        'cache: the upstream sent bytes that do not match their digest; not stored, not served',
      );
    });
  }
  try {
    await pending.commit(prefixSize + size);
  } catch (error) {
    live?.ended('broken');
    await pending.discard();
    tap?.cut();
    throw error;
  }
  live?.ended('stored');
  tap?.finish();
  return 'stored';
}

/** A fill that is not stored: every reader is cut short, the temp file removed, and `report` says why. */
async function failed(
  pending: PendingFill,
  tap: ClientTap | undefined,
  live: LiveFill | undefined,
  outcome: 'broken' | 'mismatch',
  report: () => void,
): Promise<FillOutcome> {
  live?.ended(outcome);
  await pending.discard();
  tap?.cut();
  report();
  return outcome;
}
