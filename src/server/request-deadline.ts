/**
 * `server.requestTimeout`: one deadline for a whole request — its body in, its answer out — armed
 * by the listener for every request, and lifted by the pipeline for blob transfers only, which run
 * for as long as they move data (under the socket's idle timeout). Without it a client reading an
 * answer, or sending a body nobody reads, a byte at a time kept the connection for as long as the
 * idle timeout was renewed by each byte.
 *
 * Node's own `requestTimeout` cannot tell a blob transfer from the rest, so it stays off; this does
 * what it does when it fires: the 408 (or 503 once the body is in) is written to the socket if no
 * answer has started, and the connection is destroyed. Writes of a handler still running go
 * nowhere: a destroyed response drops them.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RegistryError } from '../oci/errors.js';
import { rawErrorResponse } from '../oci/respond.js';

const BODY_LATE = rawErrorResponse(new RegistryError('REQUEST_TIMEOUT', 'the request did not arrive within the request timeout'));
const ANSWER_LATE = rawErrorResponse(new RegistryError('UNAVAILABLE', 'the request was not answered within the request timeout'));

/** The deadline of each request in progress: its disarm function. */
const deadlines = new WeakMap<IncomingMessage, () => void>();

/**
 * Arms the deadline of one request. It ends when the answer is out and the body is in (a body the
 * handler did not read is drained by Node on the same connection, so that counts too).
 */
export function armRequestDeadline(req: IncomingMessage, res: ServerResponse, timeoutMs: number, onExpired: () => void): void {
  if (timeoutMs <= 0) return;
  const socket = req.socket;
  const disarm = (): void => {
    clearTimeout(timer);
    deadlines.delete(req);
    req.off('end', disarm);
    socket.off('close', disarm);
  };
  const timer = setTimeout(() => {
    disarm();
    if (socket.destroyed) return;
    onExpired();
    if (!res.headersSent && socket.writable) socket.write(req.complete ? ANSWER_LATE : BODY_LATE);
    socket.destroy();
  }, timeoutMs);
  timer.unref();
  res.once('close', () => {
    if (req.complete || socket.destroyed) disarm();
    else {
      req.once('end', disarm);
      socket.once('close', disarm);
    }
  });
  deadlines.set(req, disarm);
}

/** A blob transfer: no whole-request deadline; the socket's idle timeout still applies. */
export function streamWithoutRequestDeadline(req: IncomingMessage): void {
  deadlines.get(req)?.();
}
