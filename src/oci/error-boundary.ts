/**
 * The one catch-all of every front end (the /v2/ pipeline, the token endpoint, the web UI): what a
 * request's handler threw becomes one answer, decided the same way everywhere.
 *
 *   - Anything not a RegistryError is an INTERNAL_ERROR: logged once, under `err`, with the front
 *     end's message (the client learns nothing of it); so is an INTERNAL_ERROR thrown on purpose.
 *   - Once the response has started, the only honest failure is to destroy the connection, so the
 *     client cannot mistake a truncated body for a whole one.
 *   - Otherwise the front end answers in its own language: OCI error JSON (after the early-refusal
 *     body handling of gateway/early-refusal.ts) for /v2/ and the token endpoint, an HTML page for
 *     the UI.
 *
 * It lives in oci/ because both the gateway and the UI import it, and the import table lets the UI
 * import nothing of gateway/ but two shared files; it needs nothing but the error catalogue.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { toRegistryError, type RegistryError } from './errors.js';

/** What the boundary logs through (pino's `Logger` is one). */
export interface FailureLog {
  error(fields: { readonly err: unknown }, message: string): void;
}

/** How one front end answers a failure while its response has not started. */
export interface FrontEnd {
  /** Where an unexpected failure is logged; none (a front end assembled without a logger) logs nothing. */
  readonly log?: FailureLog | undefined;
  /** The log line's message, naming the front end: `request failed`, `token request failed`, … */
  readonly failed: string;
  /** Answers `failure` in the front end's own language; called only before the response started. */
  readonly answer: (req: IncomingMessage, res: ServerResponse, failure: RegistryError) => void;
}

/** Answers what a request's handler threw (see above); returns it as the RegistryError it was answered as. */
export function answerFailure(req: IncomingMessage, res: ServerResponse, thrown: unknown, frontEnd: FrontEnd): RegistryError {
  const failure = toRegistryError(thrown);
  if (failure.code === 'INTERNAL_ERROR') frontEnd.log?.error({ err: thrown }, frontEnd.failed);
  if (res.headersSent) res.destroy();
  else frontEnd.answer(req, res, failure);
  return failure;
}
