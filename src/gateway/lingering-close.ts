/**
 * Answering an error while the client is still sending its body (a 401 to an upload without
 * credentials, a 413, a 415 at the token endpoint), as nginx's lingering close does.
 *
 * Closing a connection at once, with unread bytes in it, makes the kernel send a reset: a client
 * still writing its body then sees ECONNRESET or EPIPE instead of the answer. So the answer goes
 * out first, with `Connection: close`; the rest of the body is read and thrown away for a while;
 * then the response is ended and Node closes the connection. The while is bounded — at most
 * LINGER_MAX_BYTES or LINGER_MAX_MS, whichever comes first — so that a client sending forever
 * cannot hold the gateway reading.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendError, writeError } from '../oci/respond.js';
import { type RegistryError } from '../oci/errors.js';

export const LINGER_MAX_BYTES = 1024 * 1024;
export const LINGER_MAX_MS = 2000;

/** sendError for a request whose body may not have been read: drains a bounded part of it, then closes. */
export function sendErrorWithLingeringClose(req: IncomingMessage, res: ServerResponse, error: RegistryError): void {
  if (req.complete || req.destroyed || res.headersSent) {
    sendError(res, error, req.method);
    return;
  }
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
