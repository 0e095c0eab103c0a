/**
 * Fills in progress that other requests of the same process read along: when eight clients ask
 * at once for a blob nobody has cached, the first one's fill fetches it and the seven others are
 * sent its bytes as they reach the temp file, rather than waiting for the whole blob to be stored
 * before their first byte.
 *
 * What a follower is sent is what the leader's client is sent: bytes that are on disk, never the
 * last one before the digest matched. On a mismatch or a broken upstream body the follower's
 * connection is cut one byte short, so no client ever holds a complete body that does not match
 * its digest. Followers read through their own descriptor of the temp file, which stays readable
 * after the rename into place or an eviction.
 */
import type { ServerResponse } from 'node:http';
import { open, type FileHandle } from 'node:fs/promises';
import { errnoCode } from '../../lib/errno.js';

/** How a fill ended (./verified-fill.ts). */
export type FillOutcome = 'stored' | 'mismatch' | 'broken';

/** The largest read a follower makes from the temp file at once. */
const FOLLOW_CHUNK_BYTES = 512 * 1024;

/** How far a fill has come: bytes on disk, then how it ended. */
export class LiveFill {
  /** The temp file, set when the upstream answered with the content and the fill began. */
  #path: string | undefined;
  #size = 0;
  #onDisk = 0;
  #outcome: FillOutcome | 'abandoned' | undefined;
  #wake: (() => void)[] = [];

  /** The upstream answered with `size` bytes that go to `path`. */
  began(path: string, size: number): void {
    this.#path = path;
    this.#size = size;
    this.#notify();
  }

  /** `bytes` from the start are written to the temp file. */
  advanced(bytes: number): void {
    this.#onDisk = bytes;
    this.#notify();
  }

  /** How the fill ended; `abandoned` when it never began (the upstream did not send the content). */
  ended(outcome: FillOutcome | 'abandoned'): void {
    this.#outcome ??= outcome;
    this.#notify();
  }

  get path(): string | undefined {
    return this.#path;
  }

  get size(): number {
    return this.#size;
  }

  /** What may be sent now: bytes on disk, all of them only once the digest matched. */
  get sendable(): number {
    return this.#outcome === 'stored' ? this.#size : Math.min(this.#onDisk, Math.max(this.#size - 1, 0));
  }

  get outcome(): FillOutcome | 'abandoned' | undefined {
    return this.#outcome;
  }

  /** Resolves once the fill began or ended. */
  async begun(): Promise<void> {
    while (this.#path === undefined && this.#outcome === undefined) await this.changed();
  }

  /** Resolves at the next change (begin, bytes written, end). */
  changed(): Promise<void> {
    return new Promise((resolve) => this.#wake.push(resolve));
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = [];
    for (const resolve of wake) resolve();
  }
}

/** The fills in progress in this process, by `kind/alg/hex`. */
export class LiveFills {
  readonly #fills = new Map<string, LiveFill>();

  /** Registers the fill of `key` for the time of `run`. */
  async during<T>(key: string, run: (fill: LiveFill) => Promise<T>): Promise<T> {
    const fill = new LiveFill();
    this.#fills.set(key, fill);
    try {
      return await run(fill);
    } finally {
      fill.ended('abandoned');
      if (this.#fills.get(key) === fill) this.#fills.delete(key);
    }
  }

  get(key: string): LiveFill | undefined {
    return this.#fills.get(key);
  }
}

async function openTemp(path: string): Promise<FileHandle | undefined> {
  try {
    return await open(path, 'r');
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined; // stored or discarded already: the caller reads the outcome
    throw error;
  }
}

function writeWithBackpressure(res: ServerResponse, chunk: Buffer): Promise<void> | undefined {
  if (res.write(chunk)) return undefined;
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/** How a follower was answered: from the fill, not at all (answer as without it), or not before the fill failed. */
export type FollowResult = 'answered' | 'not-followed' | 'mismatch' | 'broken';

/**
 * Answers a plain GET from a fill in progress, `headers` first. 'not-followed' when the fill could
 * not be followed (it ended before it began, or its temp file is gone already); 'mismatch' or
 * 'broken' when it failed before a byte was sent: nothing was sent then either, and the caller
 * answers with an error as the requests that waited for the fill do.
 */
export async function readAlong(fill: LiveFill, res: ServerResponse, headers: Record<string, string | number>): Promise<FollowResult> {
  await fill.begun();
  const path = fill.path;
  const endedAlready = fill.outcome;
  if (path === undefined || endedAlready === 'abandoned') return 'not-followed';
  const handle = await openTemp(path);
  if (!handle) return 'not-followed';
  try {
    let sent = 0;
    while (!res.destroyed) {
      const outcome = fill.outcome;
      if (outcome === 'mismatch' || outcome === 'broken') {
        if (!res.headersSent) return outcome;
        break;
      }
      if (outcome === 'abandoned') break;
      if (outcome === 'stored' && sent === fill.size) {
        if (!res.headersSent) res.writeHead(200, { ...headers, 'Content-Length': fill.size });
        res.end();
        return 'answered';
      }
      const sendable = fill.sendable;
      if (sendable <= sent) {
        await fill.changed();
        continue;
      }
      if (!res.headersSent) res.writeHead(200, { ...headers, 'Content-Length': fill.size });
      const length = Math.min(sendable - sent, FOLLOW_CHUNK_BYTES);
      const { bytesRead, buffer } = await handle.read(Buffer.allocUnsafe(length), 0, length, sent);
      if (bytesRead === 0) break;
      sent += bytesRead;
      await writeWithBackpressure(res, bytesRead === length ? buffer : buffer.subarray(0, bytesRead));
    }
    res.destroy(); // the content did not match or did not arrive whole: a cut, never a complete body
    return 'answered';
  } finally {
    await handle.close();
  }
}
