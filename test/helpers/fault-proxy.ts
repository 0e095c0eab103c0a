/**
 * A small HTTP proxy on 127.0.0.1 in front of a real registry, for tests of what the gateway does
 * when the registry behind misbehaves. It forwards every request as is and records it; a fault set
 * for a path (or a part of one, e.g. a digest) changes the answer:
 *
 *   wrong-bytes  the real answer with one byte of its body changed (same length, same headers)
 *   cut-half     the real headers, half of the body, then the connection is destroyed
 *   chunked      the real answer without its Content-Length (sent chunked: the size is not said up front)
 *   hold         the request is forwarded and answered by the registry, but the answer is held back
 *                until `releaseHeld()` (an answer that arrives late, after what happened since)
 *   stall-half   the real headers and half of the body, then the rest only at `releaseHeld()` (a
 *                slow upstream, caught in the middle of a transfer)
 *   503          503 with an OCI error body, nothing forwarded
 *   429          429 TOOMANYREQUESTS with Retry-After (a rate limit, Docker Hub's), nothing forwarded
 *   refuse       the connection is destroyed before any answer
 *
 * `stopListening()` / `listenAgain()` make the port refuse connections (ECONNREFUSED) and accept them again.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { once } from 'node:events';
import { request } from 'undici';

export type Fault = 'wrong-bytes' | 'cut-half' | 'stall-half' | 'chunked' | 'hold' | '503' | '429' | 'refuse';

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
}

export interface FaultProxy {
  readonly url: string;
  readonly port: number;
  /** Every request received, in order. */
  readonly requests: RecordedRequest[];
  /** Requests whose method is `method` and whose path contains `part`. */
  count(method: string, part: string): number;
  /** Answers requests whose path contains `part` with `fault` (for methods in `methods`, default GET). */
  setFault(part: string, fault: Fault, methods?: readonly string[]): void;
  clearFaults(): void;
  /** How many answers the `hold` fault is holding back. */
  readonly heldCount: number;
  /** Sends the answers held back. */
  releaseHeld(): void;
  stopListening(): Promise<void>;
  listenAgain(): Promise<void>;
  stop(): Promise<void>;
}

interface FaultRule {
  readonly part: string;
  readonly fault: Fault;
  readonly methods: readonly string[];
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer']);

function forwardableHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  return out;
}

async function readAll(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function relay(
  target: string,
  req: IncomingMessage,
  res: ServerResponse,
  fault: Fault | undefined,
  held: (() => void)[],
): Promise<void> {
  if (fault === 'refuse') {
    req.socket.destroy();
    return;
  }
  const body = await readAll(req);
  if (fault === '503' || fault === '429') {
    const code = fault === '503' ? 'UNAVAILABLE' : 'TOOMANYREQUESTS';
    const text = JSON.stringify({ errors: [{ code, message: 'injected by the fault proxy' }] });
    const headers = {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      ...(fault === '429' ? { 'retry-after': '60' } : {}),
    };
    res.writeHead(Number(fault), headers);
    res.end(req.method === 'HEAD' ? undefined : text);
    return;
  }
  const method = req.method ?? 'GET';
  const upstream = await request(`${target}${req.url ?? '/'}`, {
    method: method as 'GET',
    headers: forwardableHeaders(req.headers),
    ...(body.length > 0 ? { body } : {}),
  });
  const headers = forwardableHeaders(upstream.headers);
  if (fault === 'hold') {
    const bytes = Buffer.from(await upstream.body.arrayBuffer());
    held.push(() => {
      res.writeHead(upstream.statusCode, headers);
      res.end(bytes);
    });
    return;
  }
  if (fault === undefined || method === 'HEAD' || upstream.statusCode !== 200) {
    res.writeHead(upstream.statusCode, headers);
    for await (const chunk of upstream.body) if (!res.write(chunk as Buffer)) await once(res, 'drain');
    res.end();
    return;
  }
  const bytes = Buffer.from(await upstream.body.arrayBuffer());
  if (fault === 'chunked') {
    delete headers['content-length'];
    res.writeHead(upstream.statusCode, headers);
    res.end(bytes);
    return;
  }
  res.writeHead(upstream.statusCode, headers);
  if (fault === 'stall-half') {
    const half = Math.floor(bytes.length / 2);
    res.write(bytes.subarray(0, half), () => held.push(() => res.end(bytes.subarray(half))));
    return;
  }
  if (fault === 'wrong-bytes') {
    const middle = Math.floor(bytes.length / 2);
    bytes[middle] = (bytes[middle] ?? 0) ^ 0xff;
    res.end(bytes);
    return;
  }
  res.write(bytes.subarray(0, Math.floor(bytes.length / 2)), () => res.destroy());
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const requests: RecordedRequest[] = [];
  let rules: FaultRule[] = [];
  const held: (() => void)[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
    const method = req.method ?? 'GET';
    requests.push({ method, path });
    const rule = rules.find((candidate) => path.includes(candidate.part) && candidate.methods.includes(method));
    relay(target, req, res, rule?.fault, held).catch(() => res.destroy());
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('fault proxy: no port');
  const { port } = address;
  const closeAll = async () => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    await closed;
  };
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    count: (method, part) => requests.filter((entry) => entry.method === method && entry.path.includes(part)).length,
    setFault(part, fault, methods = ['GET']) {
      rules.push({ part, fault, methods });
    },
    clearFaults() {
      rules = [];
    },
    get heldCount() {
      return held.length;
    },
    releaseHeld() {
      for (const send of held.splice(0)) send();
    },
    stopListening: closeAll,
    async listenAgain() {
      server.listen(port, '127.0.0.1');
      await once(server, 'listening');
    },
    stop: closeAll,
  };
}
