/**
 * The metrics listener: plain HTTP on its own address (`metrics.listen`, loopback by default), so
 * that scraping needs no credentials and the registry's clients never reach it. It answers
 * `GET /metrics` (and HEAD) and nothing else.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { splitRequestTarget } from '../oci/request-target.js';

export const METRICS_PATH = '/metrics';

export interface MetricsSource {
  text(): Promise<string>;
  readonly contentType: string;
}

export interface MetricsListener {
  readonly url: string;
  close(): Promise<void>;
}

function answer(
  res: import('node:http').ServerResponse,
  status: number,
  body: string,
  contentType = 'text/plain; charset=utf-8',
  head = false,
): void {
  res.statusCode = status;
  res.setHeader('Content-Type', contentType);
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.setHeader('Cache-Control', 'no-store');
  res.end(head ? undefined : body);
}

export async function serveMetrics(
  host: string,
  port: number,
  source: MetricsSource,
  onError: (error: unknown) => void,
): Promise<MetricsListener> {
  const server: Server = createServer({ headersTimeout: 10_000, requestTimeout: 30_000, keepAliveTimeout: 65_000 }, (req, res) => {
    const { path } = splitRequestTarget(req.url ?? '');
    if (path !== METRICS_PATH) {
      answer(res, 404, 'not found; metrics are at /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      answer(res, 405, 'method not allowed\n');
      return;
    }
    source.text().then(
      (text) => answer(res, 200, text, source.contentType, req.method === 'HEAD'),
      (error: unknown) => {
        onError(error);
        answer(res, 500, 'metrics could not be collected\n');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shown =
    address.family === 'IPv6'
      ? `[${address.address === '::' ? '::1' : address.address}]`
      : address.address === '0.0.0.0'
        ? '127.0.0.1'
        : address.address;
  return {
    url: `http://${shown}:${address.port}${METRICS_PATH}`,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
