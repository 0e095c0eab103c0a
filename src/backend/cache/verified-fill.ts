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
import type { CacheObserver, ContentKind, ContentStore } from './content-store.js';

export type FillOutcome = 'stored' | 'mismatch' | 'broken';

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

export async function fillVerified(
  store: ContentStore,
  source: FillSource,
  tap: ClientTap | undefined,
  context: { logger: Logger; observer: CacheObserver | undefined; upstreamPath: string },
): Promise<FillOutcome> {
  const pending = await store.beginFill(source.kind, source.digest);
  const hash = newHash(source.digest.algorithm);
  const prefixSize = source.prefix?.length ?? 0;
  // No fill writes more than the cache may hold, nor more than the upstream said it would send.
  const limit = Math.min(source.maxBytes ?? store.maxBytes, store.maxBytes, source.declaredSize ?? store.maxBytes);
  let size = 0;
  try {
    if (source.prefix) await pending.handle.write(source.prefix, 0, prefixSize, 0);
    for await (const chunk of source.body) {
      hash.update(chunk);
      context.observer?.fetched(chunk.length);
      if (size + chunk.length > limit) throw new RangeError(`more than ${limit} bytes`);
      await pending.handle.write(chunk, 0, chunk.length, prefixSize + size);
      size += chunk.length;
      await tap?.push(chunk);
    }
  } catch (error) {
    await pending.discard();
    tap?.cut();
    context.logger.warn({ err: error, digest: source.digest.value, path: context.upstreamPath }, 'cache: the upstream body broke off');
    return 'broken';
  }
  const actual = hash.digest('hex');
  if (actual !== source.digest.hex || (source.declaredSize !== undefined && size !== source.declaredSize)) {
    await pending.discard();
    tap?.cut();
    context.observer?.mismatch();
    context.logger.error(
      { digest: source.digest.value, actual: `${source.digest.algorithm}:${actual}`, size, path: context.upstreamPath },
      'cache: the upstream sent bytes that do not match their digest; not stored, not served',
    );
    return 'mismatch';
  }
  try {
    await pending.commit(prefixSize + size);
  } catch (error) {
    await pending.discard();
    tap?.cut();
    throw error;
  }
  tap?.finish();
  return 'stored';
}
