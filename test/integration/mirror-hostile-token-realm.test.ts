/**
 * The attack: a mirrored registry names the token service (the realm) its clients log in to, and
 * the gateway sends the mirror's credentials there. A registry that is compromised, or a
 * man-in-the-middle on plain HTTP, names a realm of its choosing: a plain-HTTP host elsewhere (the
 * credentials in clear text), a URL with userinfo, a realm that redirects the credentials on, one
 * that answers a body without end or never answers. The gateway must send nothing to a realm
 * that is neither https nor loopback, follow no redirect, read a bounded answer within a bounded
 * time, and answer its client with a clean OCI error.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { startGate, type TestGate } from '../helpers/gate.js';
import { RegistryClient } from '../helpers/registry-client.js';

const MIRROR_LOGIN = 'mirror-bot:mirror-bot-secret-7';

interface Local {
  readonly url: string;
  readonly requests: string[];
  stop(): Promise<void>;
}

/** A loopback HTTP server answering every request with `answer`; records what it was asked. */
async function serve(answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<Local> {
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    requests.push(`${req.method ?? ''} ${req.url ?? ''} ${req.headers.authorization ?? ''}`);
    answer(req, res);
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    url: `http://127.0.0.1:${address.port}`,
    requests,
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

/** A registry that challenges every request for a token from `realm`. */
function challenging(realm: string): Promise<Local> {
  return serve((_req, res) => {
    res.writeHead(401, { 'www-authenticate': `Bearer realm="${realm}",service="hostile"`, 'content-type': 'application/json' });
    res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
  });
}

describe("a mirrored registry's hostile token realm", () => {
  let dir: string;
  let gate: TestGate;
  let client: RegistryClient;
  const servers: Local[] = [];
  let recorder: Local;
  let realms: Record<'elsewhere' | 'userinfo' | 'redirect' | 'huge' | 'silent', Local>;

  before(async () => {
    dir = await makeTempDir('rg-mirror-realm-');
    recorder = await serve((_req, res) => res.end('{"token":"stolen"}'));
    const redirect = await serve((_req, res) => {
      res.writeHead(302, { location: `${recorder.url}/token` });
      res.end();
    });
    const huge = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`{"token":"${'a'.repeat(1024 * 1024)}"}`);
    });
    const silent = await serve(() => undefined); // never answers
    servers.push(recorder, redirect, huge, silent);
    const recorderPort = new URL(recorder.url).port;
    realms = {
      elsewhere: await challenging(`http://registry.example.com:${recorderPort}/token`),
      userinfo: await challenging(`http://user:pw@127.0.0.1:${recorderPort}/token`),
      redirect: await challenging(`${redirect.url}/token`),
      huge: await challenging(`${huge.url}/token`),
      silent: await challenging(`${silent.url}/token`),
    };
    servers.push(...Object.values(realms));
    const credentialsFile = join(dir, 'login');
    await writeFile(credentialsFile, `${MIRROR_LOGIN}\n`, { mode: 0o600 });
    gate = await startGate({
      dir,
      config: {
        mirrors: Object.entries(realms).map(([name, registry]) => ({
          repository: `${name}/**`,
          url: registry.url,
          stripPrefix: `${name}/`,
          credentialsFile,
        })),
        access: [{ repository: '**', actions: ['pull'], subjects: ['anonymous'] }],
      },
    });
    client = new RegistryClient(() => ({ baseUrl: gate.url }));
  });

  after(async () => {
    await gate.stop();
    for (const server of servers) await server.stop();
    await removeDir(dir);
  });

  function assertCleanError(reply: Awaited<ReturnType<RegistryClient['call']>>, statuses: number[]): void {
    assert.ok(statuses.includes(reply.status), `status ${reply.status}: ${reply.text()}`);
    const code = reply.json<{ errors: { code: string }[] }>().errors[0]?.code;
    assert.ok(code === 'UPSTREAM_ERROR' || code === 'UNAVAILABLE', reply.text());
    assert.ok(!reply.text().includes('mirror-bot-secret'), 'no credentials in the answer');
  }

  test('a plain-HTTP realm elsewhere, or one with userinfo, gets nothing: 502', async () => {
    for (const name of ['elsewhere', 'userinfo']) {
      assertCleanError(await client.call('GET', `/v2/${name}/library/app/manifests/v1`), [502]);
    }
    assert.deepEqual(recorder.requests, []);
  });

  test('a redirect from the realm is not followed: 502, the credentials go nowhere else', async () => {
    assertCleanError(await client.call('GET', '/v2/redirect/library/app/manifests/v1'), [502]);
    assert.equal(realms.redirect.requests.length > 0, true);
    assert.deepEqual(recorder.requests, []);
  });

  test('a token answer without end is cut at its cap: 502', async () => {
    assertCleanError(await client.call('GET', '/v2/huge/library/app/blobs/sha256:' + 'a'.repeat(64)), [502]);
  });

  test('a realm that never answers: 503 within the token timeout, no hang', async () => {
    const started = Date.now();
    assertCleanError(await client.call('GET', '/v2/silent/library/app/manifests/v1'), [503]);
    assert.ok(Date.now() - started < 15_000, `answered after ${Date.now() - started} ms`);
  });
});
