/**
 * Answering an error before the request's body was read: a 401 to an upload without credentials,
 * a 403 to a manifest push the rules refuse, a 413, a 415 at the token endpoint.
 *
 * A small body of declared length (Content-Length up to DRAIN_FIRST_MAX_BYTES, a manifest's limit)
 * is read and thrown away first; the answer goes out once it has all arrived, on a connection that
 * stays open, as nginx discards the body of a request it refuses. Answering before the body has
 * arrived breaks clients that write the body from one thread while another waits for the answer.
 * containerd 1.6 (`remotes/docker/pusher.go`) hands Go's transport an `io.Pipe` wrapped in
 * `io.NopCloser`: on an early 403 with `Connection: close` its request goroutine closes the push
 * writer before the copying goroutine has taken the pipe, so the pipe is never closed; the
 * transport closes the connection, its write loop dies on the manifest bytes and stops reading the
 * pipe, and the copier's `Commit` blocks for ever in a zero-length `pipe.Write` (`ctr images push`
 * hung in about half the runs). Once the whole body has reached the gateway, the copier holds the
 * pipe, and the refusal ends the push.
 *
 * A larger body, or one of unknown length (chunked), is not read whole: the answer goes out at once
 * with `Connection: close`, the rest of the body is read and thrown away for a while, then the
 * connection closes (nginx's lingering close). Closing at once, with unread bytes in the socket,
 * makes the kernel send a reset: a client still writing its body would see ECONNRESET or EPIPE
 * instead of the answer. Both reads are bounded: the first by the declared length and
 * LINGER_MAX_MS, the lingering one by LINGER_MAX_BYTES and LINGER_MAX_MS, whichever comes first, so
 * that a client sending forever, fast or in a trickle, cannot hold the gateway reading.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendError, writeError } from '../oci/respond.js';
import { type RegistryError } from '../oci/errors.js';
import { MAX_MANIFEST_BYTES } from '../lib/read-body.js';

/** A body up to this size is read before the answer: the largest a registry client sends in one piece. */
export const DRAIN_FIRST_MAX_BYTES = MAX_MANIFEST_BYTES;
export const LINGER_MAX_BYTES = 1024 * 1024;
export const LINGER_MAX_MS = 2000;

/** sendError for a request whose body may not have been read yet: bounded reads, then a clean answer. */
export function sendEarlyRefusal(req: IncomingMessage, res: ServerResponse, error: RegistryError): void {
  if (req.complete || req.destroyed || res.headersSent) {
    sendError(res, error, req.method);
    return;
  }
  if (declaredLength(req) <= DRAIN_FIRST_MAX_BYTES) answerAfterBody(req, res, error);
  else answerThenLinger(req, res, error);
}

/** The body's length as the client declared it; Infinity when it did not (chunked). */
function declaredLength(req: IncomingMessage): number {
  const declared = req.headers['content-length'];
  if (req.headers['transfer-encoding'] !== undefined || declared === undefined || !/^\d+$/.test(declared)) return Infinity;
  return Number(declared);
}

/** Reads the (small) body to its end, then answers; a body still arriving after LINGER_MAX_MS gets the lingering close. */
function answerAfterBody(req: IncomingMessage, res: ServerResponse, error: RegistryError): void {
  const stop = (): void => {
    clearTimeout(timer);
    req.off('end', answer);
    res.off('close', stop);
  };
  function answer(): void {
    stop();
    sendError(res, error, req.method);
  }
  const timer = setTimeout(() => {
    stop();
    answerThenLinger(req, res, error);
  }, LINGER_MAX_MS);
  req.once('end', answer);
  res.once('close', stop);
  // Flowing with no 'data' listener: every chunk is thrown away as it arrives.
  req.resume();
}

/** Answers at once with `Connection: close`, drains a bounded part of the body, then closes. */
function answerThenLinger(req: IncomingMessage, res: ServerResponse, error: RegistryError): void {
  // An unread request body would otherwise be parsed as the next request on this connection.
  res.setHeader('Connection', 'close');
  if (!writeError(res, error, req.method)) return;
  let drained = 0;
  const stop = (): void => {
    clearTimeout(timer);
    req.off('data', onData);
    req.off('end', endResponse);
    res.off('close', stop);
  };
  // Until the response ends, Node keeps the connection open; ending it closes the connection.
  function endResponse(): void {
    stop();
    req.pause();
    res.end();
  }
  function onData(chunk: Buffer): void {
    drained += chunk.length;
    if (drained >= LINGER_MAX_BYTES) endResponse();
  }
  const timer = setTimeout(endResponse, LINGER_MAX_MS);
  req.on('data', onData);
  req.once('end', endResponse);
  res.once('close', stop);
  req.resume();
}
