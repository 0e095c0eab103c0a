/**
 * Blob pushes and pulls with curl, one stream or several at once, timed from the first request
 * to the last byte, in MB/s (10^6 bytes per second, all streams together).
 *
 *   push = POST /v2/<repo>/blobs/uploads/ (undici), then `curl -T FILE` PUT <Location>&digest=…
 *          (Content-Length known, body streamed from a pre-generated file, no Expect: 100-continue)
 *   pull = `curl -o /dev/null` GET /v2/<repo>/blobs/<digest>
 *
 * curl (one process per stream, HTTP/1.1) keeps the client side the same for every target and off
 * the benchmark's own event loop. Every server picks the TLS cipher by its own preference, so curl
 * gets what docker would: AES-256-GCM from the recipe's nginx, AES-128-GCM from Distribution and
 * registry-gate. The same files are pushed in every round, so after each push workload
 * `reclaimBlobs` deletes them from the target's storage: every push writes for real, and a full
 * run does not fill the disk.
 *
 * Before each pull the stored blob is read once (`--cache warm`, what a registry's hot layers
 * are) or evicted from the page cache (`--cache cold`): left alone, whether it is cached depends
 * on how much the push workloads of earlier rounds wrote since, not on the server measured.
 */
import { createHash, randomFillSync } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { runProcess } from '../test/helpers/process.js';
import { openUpload, withDigest } from './registry-api.js';
import type { StorageLayout, Target } from './targets.js';

export const CURL_BIN = process.env.CURL_BIN ?? 'curl';
export const PUSH_REPO = 'bench/push';
export const PULL_REPO = 'bench/pull';

export interface BlobFile {
  path: string;
  size: number;
  digest: string;
}

/** `count` files of `size` random bytes, hashed while written (1 MiB at a time). */
export async function makeBlobFiles(dir: string, count: number, size: number): Promise<BlobFile[]> {
  const files: BlobFile[] = [];
  const chunk = Buffer.allocUnsafe(Math.min(size, 1024 * 1024));
  for (let i = 0; i < count; i++) {
    const path = join(dir, `blob-${i}.bin`);
    const hash = createHash('sha256');
    const handle = await open(path, 'w');
    try {
      for (let left = size; left > 0;) {
        const part = left >= chunk.length ? chunk : chunk.subarray(0, left);
        randomFillSync(part);
        hash.update(part);
        await handle.write(part);
        left -= part.length;
      }
    } finally {
      await handle.close();
    }
    files.push({ path, size, digest: `sha256:${hash.digest('hex')}` });
  }
  return files;
}

/** A curl config file holding the Authorization header, so the password is not on a command line. */
export async function writeCurlAuth(dir: string, authorization: string): Promise<string> {
  const file = join(dir, 'curl-auth-header');
  await writeFile(file, `Authorization: ${authorization}\n`, { mode: 0o600 });
  return file;
}

function curlBase(target: Target, authHeaderFile: string): string[] {
  return ['--http1.1', '-sS', '-o', '/dev/null', '-H', `@${authHeaderFile}`, ...(target.caFile ? ['--cacert', target.caFile] : [])];
}

async function curl(args: string[], timeoutMs: number, what: string): Promise<string> {
  const result = await runProcess(CURL_BIN, args, { timeoutMs });
  if (result.signal === 'SIGKILL') throw new Error(`${what}: killed after ${timeoutMs} ms`);
  if (result.code !== 0) throw new Error(`${what}: curl exited ${result.code}: ${result.stderr.trim()}`);
  return result.stdout.trim();
}

export async function pushBlobFile(
  target: Target,
  repository: string,
  file: BlobFile,
  authHeaderFile: string,
  timeoutMs: number,
): Promise<void> {
  const uploadUrl = await openUpload(target, repository);
  const what = `${target.label}: push ${file.size} bytes`;
  const out = await curl(
    [
      ...curlBase(target, authHeaderFile),
      '-H',
      'Expect:',
      '-H',
      'Content-Type: application/octet-stream',
      '-T',
      file.path,
      '-w',
      '%{http_code} %{size_upload}',
      withDigest(uploadUrl, file.digest),
    ],
    timeoutMs,
    what,
  );
  const [status, sent] = out.split(' ');
  if (status !== '201' || Number(sent) !== file.size) throw new Error(`${what}: answered ${status} after ${sent} bytes sent`);
}

export async function pullBlob(
  target: Target,
  repository: string,
  file: BlobFile,
  authHeaderFile: string,
  timeoutMs: number,
): Promise<void> {
  const what = `${target.label}: pull ${file.size} bytes`;
  const out = await curl(
    [...curlBase(target, authHeaderFile), '-w', '%{http_code} %{size_download}', `${target.url}/v2/${repository}/blobs/${file.digest}`],
    timeoutMs,
    what,
  );
  const [status, received] = out.split(' ');
  if (status !== '200' || Number(received) !== file.size) throw new Error(`${what}: answered ${status} with ${received} bytes`);
}

/** Runs `transfers` at once; MB/s of all bytes over the wall-clock time of the slowest. */
export async function timeTransfers(bytes: number, transfers: Array<() => Promise<void>>): Promise<number> {
  const started = process.hrtime.bigint();
  await Promise.all(transfers.map((transfer) => transfer()));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return bytes / seconds / 1e6;
}

/** The file a registry's storage keeps the blob's bytes in. */
export function storedBlobPath(storage: StorageLayout, digest: string): string {
  const hex = digest.slice('sha256:'.length);
  if (storage.layout === 'distribution') return join(storage.dataDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
  if (storage.layout === 'builtin') return join(storage.root, 'blobs/sha256', hex.slice(0, 2), hex);
  return join(storage.root, hex);
}

/** Delete the benchmark's blobs from a registry's storage (its files and the repository links). */
export async function reclaimBlobs(storage: StorageLayout, repositories: string[], digests: string[]): Promise<void> {
  for (const digest of digests) {
    const hex = digest.slice('sha256:'.length);
    const paths =
      storage.layout === 'distribution'
        ? [
            join(storage.dataDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex),
            ...repositories.map((repo) => join(storage.dataDir, 'docker/registry/v2/repositories', repo, '_layers/sha256', hex)),
          ]
        : storage.layout === 'builtin'
          ? [
              join(storage.root, 'blobs/sha256', hex.slice(0, 2), hex),
              ...repositories.map((repo) => join(storage.root, 'repositories', repo, '_layers/sha256', hex)),
            ]
          : [join(storage.root, hex)];
    await Promise.all(paths.map((path) => rm(path, { recursive: true, force: true })));
  }
}

/**
 * Puts the stored blob in the page cache (`warm`: read it once) or takes it out (`cold`: written
 * back, then dropped with posix_fadvise DONTNEED through `dd iflag=nocache`).
 */
export async function setPageCache(path: string, mode: 'warm' | 'cold'): Promise<void> {
  if (mode === 'warm') {
    // Reading is the point: every chunk is dropped.
    await pipeline(
      createReadStream(path, { highWaterMark: 4 * 1024 * 1024 }),
      new Writable({ write: (_chunk, _encoding, done) => done() }),
    );
    return;
  }
  for (const [cmd, args] of [
    ['sync', [path]],
    ['dd', [`if=${path}`, 'iflag=nocache', 'count=0', 'status=none']],
  ] as const) {
    const result = await runProcess(cmd, args, { timeoutMs: 60_000 });
    if (result.code !== 0) throw new Error(`${cmd} ${path}: ${result.stderr.trim()}`);
  }
}
