/**
 * The one way a JSON body is answered: registry lists, token responses, health, and the OCI error
 * JSON of a RegistryError. A body is never written to a HEAD request, but its length is declared.
 */
import { STATUS_CODES, type ServerResponse } from 'node:http';
import { API_VERSION, API_VERSION_HEADER } from './api-version.js';
import { errorBody, type RegistryError } from './errors.js';

export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

/** Ends the response with `value` as JSON; `headers` may set another Content-Type (an OCI index). */
export function sendJson(
  res: ServerResponse,
  method: string,
  status: number,
  value: unknown,
  headers: Readonly<Record<string, string | number>> = {},
): void {
  const text = JSON.stringify(value);
  res.statusCode = status;
  res.setHeader('Content-Type', JSON_CONTENT_TYPE);
  for (const [name, header] of Object.entries(headers)) res.setHeader(name, header);
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(method === 'HEAD' ? undefined : text);
}

/**
 * Writes the error as the response, unless headers were already sent, in which case the only honest
 * thing left is to destroy the connection so the client cannot mistake a truncated body for a whole one.
 */
export function sendError(res: ServerResponse, error: RegistryError, method = 'GET'): void {
  if (writeError(res, error, method)) res.end();
}

/**
 * sendError without the end of the response, for a caller that ends it later (a lingering close);
 * false when headers were already sent and the connection was destroyed instead.
 */
export function writeError(res: ServerResponse, error: RegistryError, method = 'GET'): boolean {
  if (res.headersSent) {
    res.destroy();
    return false;
  }
  const body = errorBody(error);
  res.statusCode = error.status;
  for (const [name, value] of Object.entries(error.headers)) res.setHeader(name, value);
  res.setHeader('Content-Type', JSON_CONTENT_TYPE);
  res.setHeader('Content-Length', Buffer.byteLength(body));
  if (method === 'HEAD') res.flushHeaders();
  else res.write(body);
  return true;
}

/**
 * The error as a whole HTTP/1.1 response to write straight to a socket, then close: for the
 * listener, when there is no ServerResponse to use (a request Node could not parse, a deadline that
 * cut a request whose handler still holds its response).
 */
export function rawErrorResponse(error: RegistryError): string {
  const body = errorBody(error);
  return [
    `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? ''}`,
    'Connection: close',
    `Content-Type: ${JSON_CONTENT_TYPE}`,
    `${API_VERSION_HEADER}: ${API_VERSION}`,
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
}
