/**
 * The runtime's ceilings: the least a Node 20 TLS server must do to move a blob, with nothing of
 * registry-gate in it. `npm run bench` starts one of each as the targets `node-file` and
 * `node-proxy`, so every transfer row can say how close registry-gate comes to its own runtime.
 *
 *   node ceiling-server.js file  LISTEN CERT KEY AUTH_FILE ROOT
 *     GET /v2/<repo>/blobs/<digest>   ROOT/<hex> with fs.createReadStream (512 KiB reads) piped to the response
 *     POST /v2/<repo>/blobs/uploads/  202 with a Location
 *     PUT <Location>?digest=sha256:…  the body hashed and written to a temp file, fsynced, compared
 *                                     with the digest and renamed to ROOT/<hex>: the built-in
 *                                     registry's irreducible work for a monolithic upload
 *   node ceiling-server.js proxy LISTEN CERT KEY AUTH_FILE UPSTREAM_URL
 *     every request forwarded with node:http over keep-alive connections, both bodies piped, the
 *     headers copied as they are (Authorization dropped, X-Forwarded-Proto: https added so the
 *     upstream's Location headers name https)
 *
 * Both compare the Authorization header with the one line of AUTH_FILE (no password checking:
 * registry-gate caches that) and answer anything else 401, and use registry-gate's TLS settings,
 * so both ends negotiate the same cipher. Written for the benchmark only: no
 * error handling beyond destroying a broken stream, no limits, loopback only.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, readFile, rename, stat } from 'node:fs/promises';
import { Agent, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { TLS_OPTIONS } from '../src/server/tls.js';

const [mode, listen, certFile, keyFile, authFile, target] = process.argv.slice(2);
if ((mode !== 'file' && mode !== 'proxy') || !listen || !certFile || !keyFile || !authFile || !target) {
  process.stderr.write('usage: ceiling-server.js file|proxy HOST:PORT CERT KEY AUTH_FILE ROOT|UPSTREAM_URL\n');
  process.exit(2);
}
/** The blob directory (file mode) or the upstream URL (proxy mode), checked above. */
const targetArg: string = target;
const authorization = (await readFile(authFile, 'utf8')).trim().replace(/^Authorization:\s*/i, '');
const BLOB = /^\/v2\/.+\/blobs\/sha256:(?<hex>[a-f0-9]{64})$/;
const UPLOAD = /^\/v2\/(.+)\/blobs\/uploads\/([^/?]*)(?:\?(.*))?$/;

function answer(res: ServerResponse, status: number, headers: Record<string, string | number> = {}): void {
  res.writeHead(status, { 'Content-Length': 0, ...headers }).end();
}

async function serveFile(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = req.url ?? '/';
  const blobHex = BLOB.exec(url)?.groups?.hex;
  if (blobHex !== undefined && (req.method === 'GET' || req.method === 'HEAD')) {
    const path = join(targetArg, blobHex);
    const size = (await stat(path)).size;
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': size });
    if (req.method === 'HEAD') return void res.end();
    await pipeline(createReadStream(path, { highWaterMark: 512 * 1024 }), res);
    return;
  }
  const upload = UPLOAD.exec(url);
  if (upload && req.method === 'POST') {
    answer(res, 202, { Location: `/v2/${upload[1]}/blobs/uploads/${randomUUID()}` });
    return;
  }
  const digest = new URLSearchParams(upload?.[3] ?? '').get('digest');
  if (upload && req.method === 'PUT' && digest?.startsWith('sha256:')) {
    const temp = join(targetArg, `${upload[2]}.upload`);
    const hash = createHash('sha256');
    req.on('data', (chunk: Buffer) => hash.update(chunk));
    await pipeline(req, createWriteStream(temp, { mode: 0o600 }));
    const handle = await open(temp, 'r');
    await handle.sync();
    await handle.close();
    if (`sha256:${hash.digest('hex')}` !== digest) {
      answer(res, 400);
      return;
    }
    await rename(temp, join(targetArg, digest.slice('sha256:'.length)));
    answer(res, 201, { Location: `/v2/${upload[1]}/blobs/${digest}`, 'Docker-Content-Digest': digest });
    return;
  }
  if (url === '/v2/' || url === '/v2') {
    answer(res, 200);
    return;
  }
  answer(res, 404);
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });
const upstream = new URL(mode === 'proxy' ? targetArg : 'http://127.0.0.1/');

async function serveProxy(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const headers = { ...req.headers, 'x-forwarded-proto': 'https' };
  delete headers.authorization;
  delete headers.connection;
  const forwarded = httpRequest({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, agent });
  const response = new Promise<IncomingMessage>((resolve, reject) => forwarded.once('response', resolve).once('error', reject));
  await pipeline(req, forwarded);
  const upstreamRes = await response;
  const responseHeaders = { ...upstreamRes.headers };
  delete responseHeaders.connection;
  delete responseHeaders['keep-alive'];
  res.writeHead(upstreamRes.statusCode ?? 502, responseHeaders);
  await pipeline(upstreamRes, res);
}

const serve = mode === 'file' ? serveFile : serveProxy;
// registry-gate's TLS settings (the same cipher is negotiated) and socket buffer size.
const server = createServer(
  { cert: await readFile(certFile), key: await readFile(keyFile), ...TLS_OPTIONS, highWaterMark: 1024 * 1024 },
  (req, res) => {
    if (req.headers.authorization !== authorization) {
      answer(res, 401, { 'WWW-Authenticate': 'Basic realm="ceiling"' });
      return;
    }
    serve(req, res).catch(() => res.destroy());
  },
);
const at = listen.lastIndexOf(':');
server.listen(Number(listen.slice(at + 1)), listen.slice(0, at), () =>
  process.stderr.write(`ceiling ${mode} listening on https://${listen}\n`),
);
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
