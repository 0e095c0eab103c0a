/**
 * A real HTTPS webhook receiver for the events tests: it checks each delivery's signature the way
 * docs/events.md tells a receiver to (HMAC-SHA256 of `<timestamp>.<body>`, compared in constant
 * time), keeps every delivery it took, and can be told to misbehave: answer 500, never answer,
 * answer a body that never ends, redirect elsewhere, or be down (its port closed) and come back up
 * on the same port.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { TlsPair } from './tls.js';

export type ReceiverMode = 'ok' | 'fail' | 'hang' | 'endless-body' | 'redirect';

export interface Delivery {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  /** The JSON body, parsed (a body that is not JSON is kept in `invalid` instead). */
  readonly json: unknown;
  readonly signatureValid: boolean;
}

export interface WebhookReceiver {
  readonly url: string;
  /** Deliveries answered 2xx, in arrival order. */
  readonly deliveries: Delivery[];
  /** Every request that arrived, whatever it was answered. */
  attempts: number;
  mode: ReceiverMode;
  /** Where `redirect` sends the client (default another loopback address). */
  redirectTo: string | undefined;
  /** Bodies that were not JSON (answered 400). */
  readonly invalid: string[];
  /** Closes the port (and every connection): tries fail with ECONNREFUSED. */
  down(): Promise<void>;
  /** Listens again on the same port. */
  up(): Promise<void>;
  close(): Promise<void>;
}

function verify(secret: string, headers: IncomingHttpHeaders, body: string): boolean {
  const timestamp = headers['x-registry-gate-timestamp'];
  const signature = headers['x-registry-gate-signature'];
  if (typeof timestamp !== 'string' || typeof signature !== 'string' || !/^\d+$/.test(timestamp)) return false;
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > 300) return false;
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`);
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export async function startWebhookReceiver(tls: TlsPair, secret: string, path = '/hook'): Promise<WebhookReceiver> {
  const sockets = new Set<Socket>();
  const hanging = new Set<ServerResponse>();
  let port = 0;
  const receiver: WebhookReceiver = {
    url: '',
    deliveries: [],
    attempts: 0,
    mode: 'ok',
    redirectTo: undefined,
    invalid: [],
    down: () => stop(),
    up: () => listen(),
    close: () => stop(),
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      receiver.attempts += 1;
      const body = Buffer.concat(chunks).toString('utf8');
      switch (receiver.mode) {
        case 'fail':
          res.writeHead(500).end('no');
          return;
        case 'hang':
          hanging.add(res);
          return;
        case 'endless-body': {
          res.writeHead(200, { 'content-type': 'text/plain' });
          const block = Buffer.alloc(64 * 1024, 0x61);
          const pump = () => {
            while (!res.destroyed && res.write(block));
            if (!res.destroyed) res.once('drain', pump);
          };
          pump();
          return;
        }
        case 'redirect':
          res.writeHead(307, { location: receiver.redirectTo ?? `https://127.0.0.2:${port}${path}` }).end();
          return;
        case 'ok': {
          let json: unknown;
          try {
            json = JSON.parse(body);
          } catch {
            receiver.invalid.push(body);
            res.writeHead(400).end();
            return;
          }
          receiver.deliveries.push({ headers: req.headers, body, json, signatureValid: verify(secret, req.headers, body) });
          res.writeHead(204).end();
        }
      }
    });
  };

  let server: Server | undefined;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const opened = createServer({ cert: tls.certPem, key: tls.keyPem }, handle);
      opened.on('connection', (socket: Socket) => {
        sockets.add(socket);
        socket.once('close', () => sockets.delete(socket));
      });
      opened.once('error', reject);
      opened.listen(port, '127.0.0.1', () => {
        const address = opened.address();
        if (address && typeof address === 'object') port = address.port;
        server = opened;
        resolve();
      });
    });
  const stop = () =>
    new Promise<void>((resolve) => {
      for (const res of hanging) res.destroy();
      hanging.clear();
      for (const socket of sockets) socket.destroy();
      if (!server) return resolve();
      server.close(() => resolve());
      server = undefined;
    });

  await listen();
  Object.assign(receiver, { url: `https://127.0.0.1:${port}${path}` });
  return receiver;
}
