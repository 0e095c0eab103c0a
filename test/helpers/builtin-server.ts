/**
 * The built-in registry backend served over plain HTTP on 127.0.0.1, with the smallest possible
 * adapter in front (route → backend → OCI error JSON; base and catalog answered here, as the
 * gateway does). No authentication: tests of the backend itself, not of the gateway.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import type { Backend, RequestContext } from '../../src/backend/backend.js';
import { createFilesystemBackend } from '../../src/backend/filesystem/index.js';
import { ANONYMOUS } from '../../src/auth/identity.js';
import { sendError } from '../../src/oci/respond.js';
import { toRegistryError } from '../../src/oci/errors.js';
import { routeFromUrl } from '../../src/oci/route.js';

export interface BuiltinServer {
  baseUrl: string;
  backend: Backend;
  server: Server;
  close(): Promise<void>;
}

async function sendCatalog(backend: Backend, res: ServerResponse, method: string, rawQuery: string): Promise<void> {
  const query = new URLSearchParams(rawQuery);
  const n = Math.min(Number(query.get('n') ?? '100') || 0, 1000);
  const last = query.get('last') ?? undefined;
  const names = n === 0 ? [] : await backend.listRepositories(last, n + 1);
  const page = names.slice(0, n);
  const body = JSON.stringify({ repositories: page });
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  if (names.length > n)
    res.setHeader('Link', `</v2/_catalog?${new URLSearchParams({ last: page.at(-1) as string, n: String(n) })}>; rel="next"`);
  res.end(method === 'HEAD' ? undefined : body);
}

async function serve(backend: Backend, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const method = req.method ?? 'GET';
  res.setHeader('Docker-Distribution-Api-Version', 'registry/2.0');
  const route = routeFromUrl(req.url ?? '/', method);
  if (route.kind === 'base') {
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Content-Length', 2);
    res.end(method === 'HEAD' ? undefined : '{}');
    return;
  }
  if (route.kind === 'catalog') {
    await sendCatalog(backend, res, method, route.rawQuery);
    return;
  }
  const peer = req.socket.remoteAddress ?? '';
  const context: RequestContext = { route, identity: ANONYMOUS, clientIp: peer, proto: 'http', peer, peerTrusted: false, scheme: 'http' };
  await backend.handle(req, res, context);
}

export function handlerFor(backend: Backend, onInternalError: (error: unknown) => void) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    serve(backend, req, res).catch((error: unknown) => {
      const failure = toRegistryError(error);
      if (failure.code === 'INTERNAL_ERROR') onInternalError(error);
      if (!req.complete) res.setHeader('Connection', 'close');
      sendError(res, failure, req.method);
    });
  };
}

export async function startBuiltinServer(options: { root: string; uploadMaxAgeMs?: number; port?: number }): Promise<BuiltinServer> {
  const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const backend = await createFilesystemBackend({
    root: options.root,
    uploadMaxAgeMs: options.uploadMaxAgeMs ?? 24 * 3600_000,
    bodyTimeoutMs: 10_000,
    logger,
  });
  const server = createServer(handlerFor(backend, (error) => logger.error({ err: error }, 'internal error')));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    backend,
    server,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await backend.close();
    },
  };
}
