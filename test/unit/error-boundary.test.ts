/**
 * The one error boundary of the /v2/ pipeline, the token endpoint and the web UI
 * (src/oci/error-boundary.ts), over a real HTTP server on 127.0.0.1: what a handler throws is
 * answered by the front end's own renderer while the response has not started, an unexpected
 * error is logged once under `err` and reaches the client only as INTERNAL_ERROR, and a response
 * that has started is cut off rather than ended as if whole.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { answerFailure, type FrontEnd } from '../../src/oci/error-boundary.js';
import { RegistryError } from '../../src/oci/errors.js';
import { sendError } from '../../src/oci/respond.js';

const logged: Array<{ fields: { readonly err: unknown }; message: string }> = [];
const answered: RegistryError[] = [];
const frontEnd: FrontEnd = {
  log: { error: (fields, message) => logged.push({ fields, message }) },
  failed: 'test request failed',
  answer: (req, res, failure) => {
    answered.push(failure);
    sendError(res, failure, req.method);
  },
};

const unexpected = new Error('a bug, with a detail the client must not see');

/** What each path's handler does before it throws. */
const HANDLERS: Record<string, (res: ServerResponse) => Promise<void>> = {
  '/bug': () => Promise.reject(unexpected),
  '/denied': () => Promise.reject(new RegistryError('DENIED', 'not yours')),
  '/started': async (res) => {
    res.writeHead(200, { 'Content-Length': '100' });
    res.write('partial');
    await new Promise((resolve) => setImmediate(resolve));
    throw unexpected;
  },
};

let server: Server;
let base: string;

before(async () => {
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const handler = HANDLERS[req.url ?? ''] ?? (() => Promise.reject(new RegistryError('NOT_FOUND')));
    void handler(res).catch((error: unknown) => answerFailure(req, res, error, frontEnd));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  server.close();
  await once(server, 'close');
});

function reset(): void {
  logged.length = 0;
  answered.length = 0;
}

describe('answerFailure', () => {
  it('answers an unexpected error as INTERNAL_ERROR, through the front end, and logs it once under err', async () => {
    reset();
    const response = await request(`${base}/bug`);
    const body = await response.body.text();
    assert.equal(response.statusCode, 500);
    assert.match(body, /"code":"INTERNAL_ERROR"/);
    assert.doesNotMatch(body, /a bug/);
    assert.deepEqual(
      answered.map((failure) => failure.code),
      ['INTERNAL_ERROR'],
    );
    assert.equal(logged.length, 1);
    assert.deepEqual(logged[0], { fields: { err: unexpected }, message: 'test request failed' });
  });

  it('answers a RegistryError as it is, and logs nothing', async () => {
    reset();
    const response = await request(`${base}/denied`);
    const body = await response.body.text();
    assert.equal(response.statusCode, 403);
    assert.match(body, /"code":"DENIED"/);
    assert.deepEqual(
      answered.map((failure) => failure.code),
      ['DENIED'],
    );
    assert.equal(logged.length, 0);
  });

  it('cuts off a response that has started, without the renderer, and logs the error once', async () => {
    reset();
    const response = await request(`${base}/started`);
    assert.equal(response.statusCode, 200);
    await assert.rejects(response.body.text(), 'a body cut short must not read as whole');
    assert.equal(answered.length, 0);
    assert.equal(logged.length, 1);
    assert.deepEqual(logged[0], { fields: { err: unexpected }, message: 'test request failed' });
  });
});
