/**
 * One delivery: a signed POST to the webhook's URL, under one deadline from the connection to the
 * answer. A 2xx answer is success; anything else fails the try, a redirect included (it is never
 * followed: the receiver is the URL the administrator wrote). The receiver's body is read only to
 * keep the connection reusable, at most RESPONSE_BODY_LIMIT bytes, then the connection is dropped:
 * a receiver answering a huge or endless body costs a few KB.
 */
import { readFile } from 'node:fs/promises';
import { Agent, request } from 'undici';
import type { Payload } from './payloads.js';
import { EVENT_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, signDelivery } from './signature.js';

const RESPONSE_BODY_LIMIT = 4096;

export interface WebhookTarget {
  readonly name: string;
  readonly url: string;
  readonly secretFile: string;
  readonly timeoutMs: number;
  readonly ca?: string | undefined;
}

/** What a try came to: delivered, or why not (a status, `redirect`, `timeout`, an error code; never the secret). */
export type TryOutcome =
  { readonly ok: true; readonly status: number } | { readonly ok: false; readonly error: string; readonly status?: number };

/** The secret, read at each try so that a rotated file applies at once (and at start, to fail early). Trailing newline ignored. */
export async function readSecret(file: string): Promise<Buffer> {
  const text = (await readFile(file, 'utf8')).replace(/\r?\n$/, '');
  if (text === '') throw Object.assign(new Error('the secret file is empty'), { code: 'EMPTY_SECRET' });
  return Buffer.from(text);
}

function failureOf(error: unknown, signal: AbortSignal): string {
  if (signal.aborted) return 'timeout';
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : 'request failed';
}

export class WebhookClient {
  readonly #target: WebhookTarget;
  readonly #agent: Agent;

  constructor(target: WebhookTarget, caPem: string | undefined) {
    this.#target = target;
    const timeout = target.timeoutMs;
    this.#agent = new Agent({
      connections: 1,
      headersTimeout: timeout,
      bodyTimeout: timeout,
      connect: { timeout, ...(caPem ? { ca: caPem } : {}) },
    });
  }

  /** `stop`: the server is closing (the try is abandoned, not counted). */
  async send(eventId: string, payload: Payload, stop: AbortSignal): Promise<TryOutcome> {
    let secret: Buffer;
    try {
      secret = await readSecret(this.#target.secretFile);
    } catch (error) {
      return { ok: false, error: `secret file unreadable (${failureOf(error, new AbortController().signal)})` };
    }
    const timestamp = Math.floor(Date.now() / 1000);
    const deadline = AbortSignal.timeout(this.#target.timeoutMs);
    const signal = AbortSignal.any([deadline, stop]);
    try {
      const answer = await request(this.#target.url, {
        method: 'POST',
        dispatcher: this.#agent,
        signal,
        headers: {
          'content-type': payload.contentType,
          'user-agent': 'registry-gate-webhook',
          [EVENT_ID_HEADER]: eventId,
          [TIMESTAMP_HEADER]: String(timestamp),
          [SIGNATURE_HEADER]: signDelivery(secret, timestamp, payload.body),
        },
        body: payload.body,
      });
      await answer.body.dump({ limit: RESPONSE_BODY_LIMIT, signal }).catch(() => undefined);
      const status = answer.statusCode;
      if (status >= 200 && status < 300) return { ok: true, status };
      return { ok: false, status, error: status >= 300 && status < 400 ? `redirect (HTTP ${status}), not followed` : `HTTP ${status}` };
    } catch (error) {
      return { ok: false, error: failureOf(error, deadline) };
    }
  }

  close(): Promise<void> {
    return this.#agent.destroy();
  }
}
