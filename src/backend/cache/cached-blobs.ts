/**
 * GET/HEAD `/v2/<name>/blobs/<digest>` through the cache. The pipeline has decided already that
 * the caller may pull `<name>`; what is left is whether the upstream has the digest in `<name>`
 * (cache-parts.ts) and whether the bytes are here.
 *
 *   cached, and the upstream has it in <name>    → answered from disk (ranges, conditionals, HEAD)
 *   cached, the upstream does not have it there  → forwarded: the upstream's own 404
 *   not cached, HEAD                             → forwarded
 *   not cached, GET                              → one fill per digest, the first client reading along
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { answerWithBlobFile, blobHeaders } from '../filesystem/blob-handlers.js';
import { tryParseDigest, type Digest } from '../filesystem/digest.js';
import type { RequestContext } from '../backend.js';
import { ContentStore, type CachedFile } from './content-store.js';
import { readAlong, type LiveFill } from './live-fills.js';
import { cachedInRepository, contentPath, fillFailed, type CacheParts, type FlightOutcome } from './cache-parts.js';
import { ClientTap, fillVerified } from './verified-fill.js';

const ANY = '*/*';

/** A plain whole GET is one the fill can stream to as it arrives; ranges and conditionals wait for the disk. */
function readsAlong(req: IncomingMessage): boolean {
  return req.method === 'GET' && req.headers.range === undefined && req.headers['if-none-match'] === undefined;
}

async function answerFromFile(req: IncomingMessage, res: ServerResponse, digest: Digest, file: CachedFile, logger: Logger): Promise<void> {
  try {
    await answerWithBlobFile(req, res, digest, file.handle, file.size, logger);
  } finally {
    await file.release();
  }
}

function startAnswer(res: ServerResponse, digest: Digest, declaredSize: number): ClientTap {
  res.writeHead(200, { ...blobHeaders(digest), 'Content-Length': declaredSize });
  return new ClientTap(res);
}

function declaredLength(header: string | string[] | undefined): number | undefined {
  const value = typeof header === 'string' && /^\d{1,15}$/.test(header) ? Number(header) : undefined;
  return value;
}

/** Fetches the blob from `repository` into the cache; `reader`, when given, gets the body as it arrives. */
async function fillBlob(
  parts: CacheParts,
  repository: string,
  digest: Digest,
  reader: { res: ServerResponse; answered: boolean } | undefined,
  live: LiveFill,
): Promise<FlightOutcome> {
  const present = await parts.store.acquire('blobs', digest);
  if (present) {
    await present.release();
    return 'present';
  }
  const path = contentPath('blobs', repository, digest.value);
  const askedAt = Date.now();
  const response = await parts.source.fetchContent(repository, path, 'GET', ANY);
  const declaredSize = declaredLength(response.headers['content-length']);
  if (response.statusCode !== 200 || declaredSize === undefined || declaredSize > parts.store.maxBytes) {
    // An error answer is the upstream's to give (forwarded). Content larger than the cache, or of a
    // size not declared up front (which could be anything), is forwarded uncached.
    await response.body.dump().catch(() => undefined); // a quiet end (destroy() would emit an abort error)
    return 'not-served';
  }
  const room = parts.store.reserve(declaredSize);
  if (!room) {
    await response.body.dump().catch(() => undefined); // other fills hold the cache's room: forwarded uncached
    return 'not-served';
  }
  try {
    await parts.references.remember('blobs', repository, digest, askedAt);
    let tap: ClientTap | undefined;
    if (reader) {
      tap = startAnswer(reader.res, digest, declaredSize);
      reader.answered = true;
    }
    const body = response.body as AsyncIterable<Buffer>;
    return await fillVerified(parts.store, { kind: 'blobs', digest, body, declaredSize }, tap, {
      logger: parts.logger,
      observer: parts.observer,
      upstreamPath: path,
      live,
    });
  } finally {
    room();
  }
}

/**
 * A plain GET of a blob that this process is filling for the same repository is sent the fill's
 * bytes as they arrive (./live-fills.ts); the fill's upstream GET in that repository is what says
 * the repository has it, so a fill for another repository is waited for and asked about instead.
 */
async function followFill(parts: CacheParts, key: string, repository: string, digest: Digest, res: ServerResponse): Promise<boolean> {
  const live = parts.store.live.get(key);
  if (!live) return false;
  await live.begun(); // the leader's upstream answered (and it remembered its repository), or it gave up
  if (!(await parts.references.known('blobs', repository, digest))) return false;
  const result = await readAlong(live, res, blobHeaders(digest));
  if (result === 'mismatch' || result === 'broken') throw fillFailed(result);
  return result === 'answered';
}

export async function serveCachedBlob(
  parts: CacheParts,
  req: IncomingMessage,
  res: ServerResponse,
  context: RequestContext,
  forward: () => Promise<void>,
): Promise<void> {
  const { repository } = context.route;
  const digest = tryParseDigest(context.route.reference);
  if (!digest) return forward(); // malformed or of an unknown algorithm: the upstream's answer
  const cached = await cachedInRepository(parts, 'blobs', repository, digest, ANY);
  if (cached === 'elsewhere') return forward();
  if (cached) {
    parts.observer?.hit('blobs');
    return answerFromFile(req, res, digest, cached, parts.logger);
  }
  parts.observer?.miss('blobs');
  if (req.method === 'HEAD') return forward();
  const reader = readsAlong(req) ? { res, answered: false } : undefined;
  const key = ContentStore.key('blobs', digest);
  if (reader && (await followFill(parts, key, repository, digest, res))) return;
  const { led, outcome } = await parts.flights.once(key, () =>
    parts.store.live.during(key, (live) => fillBlob(parts, repository, digest, reader, live)),
  );
  if (led && reader?.answered) return; // streamed as it arrived, or cut on a mismatch
  if (outcome === 'mismatch' || outcome === 'broken') throw fillFailed(outcome);
  if (outcome === 'not-served') return forward();
  const filled = await cachedInRepository(parts, 'blobs', repository, digest, ANY);
  if (filled === undefined || filled === 'elsewhere') return forward();
  return answerFromFile(req, res, digest, filled, parts.logger);
}
