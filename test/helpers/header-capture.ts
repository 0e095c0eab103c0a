/**
 * A stand-in upstream that records every request it receives — method, URL, headers exactly as
 * they arrived, body length — for tests of which headers the gateway forwards, strips or adds.
 *
 * By default it answers like a registry root: `GET /v2/` → 200 `{}` with
 * `Docker-Distribution-Api-Version: registry/2.0`; anything else → 404 with an OCI error body.
 * Pass `respond` to answer differently.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface CapturedRequest {
  method: string;
  url: string;
  /** Lower-cased, joined as node does (`IncomingMessage.headers`). */
  headers: IncomingHttpHeaders;
  /** Name/value pairs in arrival order, original case, duplicates kept. */
  rawHeaders: Array<[string, string]>;
  bodyLength: number;
  httpVersion: string;
}

export interface CannedResponse {
  status: number;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
}

export interface HeaderCaptureOptions {
  /** Return a response, or undefined for the default registry-root behaviour. */
  respond?: (request: CapturedRequest) => CannedResponse | undefined;
}

export interface HeaderCapture {
  /** `http://127.0.0.1:PORT`, no trailing slash. */
  url: string;
  port: number;
  requests: CapturedRequest[];
  /** `METHOD url` of each request whose headers arrived, before its body is read (a request in flight). */
  started: string[];
  /** Forget recorded requests (between cases sharing one server). */
  clear(): void;
  stop(): Promise<void>;
}

const API_VERSION = { 'Docker-Distribution-Api-Version': 'registry/2.0' };

function defaultResponse(request: CapturedRequest): CannedResponse {
  const path = request.url.split('?')[0];
  if (path === '/v2/' || path === '/v2') {
    return { status: 200, headers: { ...API_VERSION, 'Content-Type': 'application/json' }, body: '{}' };
  }
  return {
    status: 404,
    headers: { ...API_VERSION, 'Content-Type': 'application/json' },
    body: JSON.stringify({ errors: [{ code: 'NAME_UNKNOWN', message: 'repository name not known to registry' }] }),
  };
}

function pairs(raw: string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!]);
  return out;
}

export async function startHeaderCapture(options: HeaderCaptureOptions = {}): Promise<HeaderCapture> {
  const requests: CapturedRequest[] = [];
  const started: string[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    started.push(`${req.method ?? ''} ${req.url ?? ''}`);
    let bodyLength = 0;
    req.on('data', (chunk: Buffer) => {
      bodyLength += chunk.length;
    });
    req.on('end', () => {
      const captured: CapturedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: pairs(req.rawHeaders),
        bodyLength,
        httpVersion: req.httpVersion,
      };
      requests.push(captured);
      const answer = options.respond?.(captured) ?? defaultResponse(captured);
      const body = answer.body ?? '';
      res.writeHead(answer.status, { 'Content-Length': String(Buffer.byteLength(body)), ...answer.headers });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    started,
    clear: () => {
      requests.length = 0;
      started.length = 0;
    },
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
