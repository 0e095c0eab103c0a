/**
 * Reads a small request body (a manifest, a token request form) with a hard cap and a deadline.
 * Memory grows only with bytes actually received, never with a length the client declares. A body
 * over the cap is refused with 413: when it overshoots by less than `discardUpTo`, the rest is read
 * and discarded so the client gets the answer on a healthy connection; otherwise reading stops and
 * the connection is closed. The deadline is one for the whole body, not renewed by each chunk (a
 * socket's idle timeout is): a client sending a byte every few seconds would otherwise hold the
 * connection, and anything the caller holds meanwhile, for as long as it likes. Past it the body is
 * refused with 408 and the connection closed.
 */
import type { IncomingMessage } from 'node:http';
import { RegistryError } from '../oci/errors.js';

/** How far past the cap a body is still read (and discarded) to answer cleanly. */
const DISCARD_ALLOWANCE = 1024 * 1024;

/** The largest manifest accepted; the distribution spec asks registries to take at least 4 MiB. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export function tooLarge(limit: number, closeConnection: boolean): RegistryError {
  return new RegistryError('MANIFEST_TOO_LARGE', `manifest is larger than ${limit} bytes`, {
    detail: { limit },
    ...(closeConnection ? { headers: { Connection: 'close' } } : {}),
  });
}

function bodyTimedOut(deadlineMs: number): RegistryError {
  return new RegistryError('REQUEST_TIMEOUT', `the request body did not arrive within ${deadlineMs / 1000} s`, {
    headers: { Connection: 'close' },
  });
}

export interface ReadBodyOptions {
  /** How long the whole body may take to arrive, from this call (`server.bodyTimeout`). */
  readonly deadlineMs: number;
  /** How far past the cap a body is still read and discarded; default 1 MiB. */
  readonly discardUpTo?: number;
  /** The refusal; default a 413 MANIFEST_INVALID. */
  readonly tooLarge?: (limit: number, closeConnection: boolean) => RegistryError;
}

export function readBodyWithLimit(req: IncomingMessage, limit: number, options: ReadBodyOptions): Promise<Buffer> {
  const allowance = options.discardUpTo ?? DISCARD_ALLOWANCE;
  const refuse = options.tooLarge ?? tooLarge;
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit + allowance) return Promise.reject(refuse(limit, true));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const cleanup = (): void => {
      clearTimeout(deadline);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
    };
    const onData = (chunk: Buffer): void => {
      total += chunk.length;
      if (total > limit + allowance) {
        cleanup();
        req.pause();
        reject(refuse(limit, true));
      } else if (total <= limit) {
        chunks.push(chunk);
      } else {
        chunks.length = 0; // discarding from here on
      }
    };
    const onEnd = (): void => {
      cleanup();
      if (total > limit) reject(refuse(limit, false));
      else resolve(Buffer.concat(chunks, total));
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(error);
    };
    const onAborted = (): void => {
      cleanup();
      reject(new RegistryError('MANIFEST_INVALID', 'request body incomplete'));
    };
    const deadline = setTimeout(() => {
      cleanup();
      req.pause();
      reject(bodyTimedOut(options.deadlineMs));
    }, options.deadlineMs);
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}
