/**
 * How the OpenID Connect client talks to the provider: undici with the provider's CA
 * (`auth.oidc.ca`, else the system's), every request bounded in time (`auth.oidc.timeout`) and
 * every answer in size (MAX_PROVIDER_RESPONSE_BYTES: discovery, keys and token answers are a few
 * KiB), redirects never followed. A provider that cannot be reached is a RegistryError
 * UNAVAILABLE: the caller answers 503 and nobody is signed out for it.
 */
import { readFile } from 'node:fs/promises';
import { Agent, request } from 'undici';
import { RegistryError } from '../../oci/errors.js';

export const MAX_PROVIDER_RESPONSE_BYTES = 256 * 1024;

/** The shape openid-client calls (its `customFetch`). */
export type ProviderFetch = (
  url: string,
  options: { body?: unknown; headers: Record<string, string>; method: string; redirect: 'manual'; signal?: AbortSignal },
) => Promise<Response>;

export interface ProviderTransport {
  readonly fetch: ProviderFetch;
  close(): Promise<void>;
}

function bodyOf(body: unknown): string | Buffer | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string' || Buffer.isBuffer(body)) return body;
  if (body instanceof URLSearchParams) return body.toString();
  if (body instanceof Uint8Array) return Buffer.from(body);
  throw new TypeError('unsupported request body for the OpenID provider');
}

export async function providerTransport(options: { caFile?: string | undefined; timeoutMs: number }): Promise<ProviderTransport> {
  const ca = options.caFile ? await readFile(options.caFile) : undefined;
  const agent = new Agent({
    connect: { timeout: options.timeoutMs, ...(ca ? { ca } : {}) },
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.timeoutMs,
    connections: 16,
  });
  const fetch: ProviderFetch = async (url, init) => {
    let answer;
    try {
      answer = await request(url, {
        dispatcher: agent,
        method: init.method as 'GET',
        headers: init.headers,
        body: bodyOf(init.body),
        signal: init.signal ?? AbortSignal.timeout(options.timeoutMs),
      });
    } catch {
      // The cause may quote the URL's query; the provider's address is in the config, not secret, but nothing else goes out.
      throw new RegistryError('UNAVAILABLE', 'the OpenID provider cannot be reached');
    }
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of answer.body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > MAX_PROVIDER_RESPONSE_BYTES) {
          answer.body.destroy();
          throw new RegistryError('UNAVAILABLE', 'the OpenID provider answered with too much');
        }
        chunks.push(chunk);
      }
    } catch (error) {
      if (error instanceof RegistryError) throw error;
      throw new RegistryError('UNAVAILABLE', 'the OpenID provider cannot be reached');
    }
    const headers = new Headers();
    for (const [name, value] of Object.entries(answer.headers)) {
      if (value === undefined) continue;
      for (const one of Array.isArray(value) ? value : [value]) headers.append(name, one);
    }
    const status = answer.statusCode;
    const nullBody = status === 204 || status === 205 || status === 304;
    return new Response(nullBody ? null : Buffer.concat(chunks), { status, headers });
  };
  return { fetch, close: () => agent.close() };
}
