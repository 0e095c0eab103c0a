/**
 * One small JSON document from an issuer (its discovery document, its JWKS), fetched under a
 * deadline for the whole exchange — connect, TLS, headers and body — and a cap on the body's size,
 * over https only, following no redirect. Whatever goes wrong is one InternalError
 * RG_ERR_ISSUER_UNAVAILABLE saying what (never a body: an issuer's answer is not ours to log).
 */
import { request, type Dispatcher } from 'undici';
import { InternalError } from '../../lib/internal-errors.js';

export interface JsonFetchLimits {
  /** The whole exchange, from the connect to the last byte. */
  readonly timeoutMs: number;
  readonly maxBytes: number;
}

function unavailable(url: URL, why: string, cause?: unknown): InternalError {
  return new InternalError(
    'RG_ERR_ISSUER_UNAVAILABLE',
    `${url.origin}${url.pathname}: ${why}`,
    cause === undefined ? undefined : { cause },
  );
}

/** The body, read up to `maxBytes`: one more byte and the exchange is dropped. */
async function readCapped(url: URL, body: Dispatcher.ResponseData['body'], declared: number, maxBytes: number): Promise<Buffer> {
  if (declared > maxBytes) {
    body.destroy();
    throw unavailable(url, `the answer is larger than ${maxBytes} bytes`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const piece = chunk as Buffer;
    size += piece.length;
    if (size > maxBytes) {
      body.destroy();
      throw unavailable(url, `the answer is larger than ${maxBytes} bytes`);
    }
    chunks.push(piece);
  }
  return Buffer.concat(chunks, size);
}

/** The JSON value at `url` (https only), or RG_ERR_ISSUER_UNAVAILABLE; `signal` ends it early (the generation closed). */
export async function fetchJson(url: URL, dispatcher: Dispatcher, limits: JsonFetchLimits, signal: AbortSignal): Promise<unknown> {
  if (url.protocol !== 'https:') throw unavailable(url, 'not an https URL');
  const deadline = AbortSignal.any([signal, AbortSignal.timeout(limits.timeoutMs)]);
  let text: string;
  try {
    const response = await request(url, { dispatcher, signal: deadline, headers: { accept: 'application/json' } });
    if (response.statusCode !== 200) {
      await response.body.dump().catch(() => undefined);
      throw unavailable(url, `answered ${response.statusCode}`);
    }
    const declared = Number(response.headers['content-length'] ?? 0);
    text = (await readCapped(url, response.body, declared, limits.maxBytes)).toString('utf8');
  } catch (error) {
    if (error instanceof InternalError) throw error;
    throw unavailable(url, deadline.aborted ? `no answer within ${limits.timeoutMs} ms` : 'the request failed', error);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw unavailable(url, 'the answer is not JSON');
  }
}
