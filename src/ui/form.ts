/** The body of a UI form: application/x-www-form-urlencoded, at most MAX_FORM_BYTES. */
import type { IncomingMessage } from 'node:http';
import { RegistryError } from '../oci/errors.js';
import { readBodyWithLimit } from '../lib/read-body.js';

export const MAX_FORM_BYTES = 16 * 1024;

/** `deadlineMs`: how long the whole body may take (`server.bodyTimeout`); the login form is read before anyone is authenticated. */
export async function readForm(req: IncomingMessage, deadlineMs: number): Promise<URLSearchParams> {
  const mediaType = (req.headers['content-type'] ?? '').split(';', 1)[0]?.trim().toLowerCase();
  if (mediaType !== 'application/x-www-form-urlencoded')
    throw new RegistryError('UNSUPPORTED_MEDIA_TYPE', 'a form must be application/x-www-form-urlencoded');
  const tooLarge = (limit: number, closeConnection: boolean) =>
    new RegistryError('TOO_LARGE', `a form is at most ${limit} bytes`, {
      ...(closeConnection ? { headers: { Connection: 'close' } } : {}),
    });
  const body = await readBodyWithLimit(req, MAX_FORM_BYTES, { deadlineMs, discardUpTo: 0, tooLarge });
  return new URLSearchParams(body.toString('utf8'));
}
