/**
 * Small tools for the access-rule tests: a raw HTTP/1.1 exchange over a socket (so that no client
 * library normalizes a hostile request target before it leaves), the two backends every access
 * test runs against, and a reader for the audit trail's JSON lines.
 */
import { connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { startDistribution, type RunningDistribution } from './distribution.js';

export interface RawReply {
  status: number;
  /** Lower-cased names; repeated headers joined with ', '. */
  headers: Record<string, string>;
  /** How many times each (lower-cased) header appeared. */
  headerCounts: Record<string, number>;
  body: string;
  /** Everything the server sent. */
  raw: string;
}

/**
 * Sends `head` (request line and headers, without the final blank line) plus `body` on a fresh
 * connection with `Connection: close`, and parses what comes back. `url` gives host, port and
 * scheme; `ca` is the CA to trust for https.
 */
export async function rawExchange(
  url: string,
  head: string,
  options: { body?: string | Buffer; ca?: string; timeoutMs?: number } = {},
): Promise<RawReply> {
  const target = new URL(url);
  const port = Number(target.port);
  const socket: Socket =
    target.protocol === 'https:'
      ? connectTls({ host: target.hostname, port, servername: 'localhost', ...(options.ca ? { ca: options.ca } : {}) })
      : connectTcp({ host: target.hostname, port });
  const body = options.body === undefined ? Buffer.alloc(0) : Buffer.from(options.body);
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer within ${options.timeoutMs ?? 5000} ms to ${JSON.stringify(head.split('\r\n')[0])}`));
    }, options.timeoutMs ?? 5000);
    socket.once(target.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
      socket.write(Buffer.concat([Buffer.from(`${head}\r\nConnection: close\r\n\r\n`, 'latin1'), body]));
    });
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('error', (error) => {
      // A reset after the answer arrived is still an answer.
      if (chunks.length > 0) return;
      clearTimeout(timer);
      reject(error);
    });
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  const raw = Buffer.concat(chunks).toString('latin1');
  const split = raw.indexOf('\r\n\r\n');
  const headText = split === -1 ? raw : raw.slice(0, split);
  const [statusLine = '', ...lines] = headText.split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? NaN);
  const headers: Record<string, string> = {};
  const headerCounts: Record<string, number> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon === -1) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    headerCounts[name] = (headerCounts[name] ?? 0) + 1;
  }
  let responseBody = split === -1 ? '' : raw.slice(split + 4);
  if (headers['content-length'] !== undefined) responseBody = responseBody.slice(0, Number(headers['content-length']));
  return { status, headers, headerCounts, body: responseBody, raw };
}

/** The OCI error code of a reply body, or undefined when the body is not OCI error JSON. */
export function ociErrorCode(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { errors?: Array<{ code?: unknown }> };
    const code = parsed.errors?.[0]?.code;
    return typeof code === 'string' ? code : undefined;
  } catch {
    return undefined;
  }
}

/** One of the two backends every access test runs against: the built-in registry, or Distribution behind the gateway. */
export interface BackendUnderTest {
  readonly name: 'built-in registry' | 'Distribution 2.8';
  /** Extra gate config (`upstream`) for this backend. */
  readonly gateConfig: Record<string, unknown>;
  stop(): Promise<void>;
}

export const BACKEND_KINDS = ['builtin', 'distribution'] as const;
export type BackendKind = (typeof BACKEND_KINDS)[number];

export async function startBackend(kind: BackendKind, dir: string): Promise<BackendUnderTest> {
  if (kind === 'builtin') return { name: 'built-in registry', gateConfig: {}, stop: () => Promise.resolve() };
  const distribution: RunningDistribution = await startDistribution({ dir });
  return { name: 'Distribution 2.8', gateConfig: { upstream: { url: distribution.url } }, stop: () => distribution.stop() };
}

export type AuditLine = Record<string, unknown> & {
  user: string | null;
  groups: string[];
  client: string;
  method: string;
  action: string;
  repository: string;
  decision: 'allow' | 'deny';
  rule: number;
  status: number;
  digest?: string;
  tag?: string;
  from?: string;
};

/** The audit file's lines as text (empty when the file does not exist yet). */
export async function readAuditText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw error;
  }
}

export function parseAuditLines(text: string): AuditLine[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as AuditLine);
}

/** Polls the audit file (the sink writes asynchronously) until `done` holds for its lines, or the time is up. */
export async function waitForAudit(file: string, done: (lines: AuditLine[]) => boolean, timeoutMs = 3000): Promise<AuditLine[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = parseAuditLines(await readAuditText(file));
    if (done(lines) || Date.now() > deadline) return lines;
    await sleep(25);
  }
}
