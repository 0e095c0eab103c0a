/**
 * Sends a byte range of an open file as a response body through a few large buffers that are used
 * again and again, instead of a read stream that allocates a fresh buffer for every read.
 *
 * Why: a fresh 512 KiB Buffer per read is memory outside V8's heap that only a garbage collection
 * gives back. At hundreds of MB/s that is a young-generation collection every few dozen MB, and
 * every buffer still queued on a slow socket at that moment is promoted to the old generation,
 * which only a full mark-compact frees: under load, a 1 GiB pull cost dozens of them (profiled in
 * docs/benchmarks.md). Reused buffers allocate nothing per chunk.
 *
 * Two buffers are in flight at most: one being written to the socket while the next is read from
 * disk. A buffer goes back to the pool only when the socket has taken its bytes (the write's
 * callback); one whose write never completes (the client went away) is left to the collector.
 */
import type { FileHandle } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { RegistryError } from '../../oci/errors.js';
import { InternalError } from '../../lib/internal-errors.js';

/** Bytes per read and per socket write: large writes keep TLS busy with few calls into it. */
export const SEND_CHUNK_BYTES = 512 * 1024;
const BUFFERS_PER_RESPONSE = 2;
/** Idle buffers kept for the next responses; beyond that they are left to the collector. */
const POOL_LIMIT = 16;

const idle: Buffer[] = [];

function take(): Buffer {
  return idle.pop() ?? Buffer.allocUnsafeSlow(SEND_CHUNK_BYTES);
}

function giveBack(buffer: Buffer): void {
  if (idle.length < POOL_LIMIT) idle.push(buffer);
}

class ResponseGone extends InternalError {
  constructor() {
    super('RG_ERR_RESPONSE_CLOSED');
  }
}

/**
 * Writes bytes `start`..`end` (inclusive) of `handle` to `res` and ends it. Rejects when the file
 * cannot be read or the response closes before its end; the caller destroys the response then.
 * Does not close `handle`. Backpressure comes with the buffers: a read waits for a buffer, and a
 * buffer comes back only once the socket has taken its bytes.
 */
export async function sendFileRange(handle: FileHandle, res: ServerResponse, start: number, end: number): Promise<void> {
  const free: Buffer[] = [];
  let owned = 0;
  let wake: (() => void) | undefined;
  let gone = false;
  const onClose = () => {
    gone = !res.writableFinished;
    wake?.();
  };
  res.once('close', onClose);
  try {
    for (let position = start; position <= end;) {
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- set by the close listener between reads
      if (gone) throw new ResponseGone();
      if (free.length === 0 && owned < BUFFERS_PER_RESPONSE) {
        free.push(take());
        owned += 1;
      }
      const buffer = free.pop();
      if (buffer === undefined) {
        await new Promise<void>((resolve) => (wake = resolve)); // a write completed, or the response closed
        continue;
      }
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, end - position + 1), position);
      if (bytesRead === 0) throw new RegistryError('INTERNAL_ERROR', 'the blob file ended before the range did');
      position += bytesRead;
      res.write(buffer.subarray(0, bytesRead), (error) => {
        if (error) return;
        free.push(buffer);
        wake?.();
      });
    }
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- set by the close listener between reads
    if (gone) throw new ResponseGone();
    await new Promise<void>((resolve, reject) => {
      res.end(() => resolve());
      res.once('close', () => (res.writableFinished ? resolve() : reject(new ResponseGone())));
    });
    // Every write has completed before the end's: the buffers are free to serve the next response.
    for (const buffer of free) giveBack(buffer);
  } finally {
    res.off('close', onClose);
  }
}
