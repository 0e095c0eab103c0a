/**
 * The few registry API calls the benchmark makes itself (with undici), outside the timed loops
 * except for the POST that opens a blob upload: a ping, opening an upload, a small pushed image
 * for the HEAD-manifest workload, and removing benchmark blobs.
 */
import { createHash } from 'node:crypto';
import { request } from 'undici';
import type { Target } from './targets.js';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const MANIFEST_ACCEPT = `${OCI_MANIFEST}, application/vnd.docker.distribution.manifest.v2+json`;

export function sha256Digest(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

interface CallOptions {
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** Statuses that count as success; anything else throws with the response body. */
  expect: number[];
}

async function call(target: Target, method: string, urlOrPath: string, options: CallOptions) {
  const url = urlOrPath.startsWith('http') ? urlOrPath : `${target.url}${urlOrPath}`;
  const res = await request(url, {
    method: method as 'GET',
    headers: { authorization: target.authorization, ...options.headers },
    ...(options.body !== undefined ? { body: options.body } : {}),
    dispatcher: target.dispatcher,
    headersTimeout: 30_000,
    bodyTimeout: 30_000,
  });
  const text = await res.body.text();
  if (!options.expect.includes(res.statusCode)) {
    throw new Error(
      `${target.label}: ${method} ${new URL(url).pathname} answered ${res.statusCode}, expected ${options.expect.join('/')}: ${text.slice(0, 300)}`,
    );
  }
  return { status: res.statusCode, headers: res.headers, text };
}

/** Throws unless `GET /v2/` with the benchmark credentials answers 200. */
export async function ping(target: Target): Promise<void> {
  await call(target, 'GET', '/v2/', { expect: [200] });
}

/** Throws unless `GET /v2/` with a wrong password answers 401 (the target really authenticates). */
export async function expectWrongPasswordRefused(target: Target, wrongAuthorization: string): Promise<void> {
  await call({ ...target, authorization: wrongAuthorization }, 'GET', '/v2/', { expect: [401] });
}

/**
 * `POST /v2/<repo>/blobs/uploads/` → the absolute URL to PUT the blob to (Location, resolved
 * against the target). Refuses a Location that leaves the target: the benchmark only talks to the
 * servers it started.
 */
export async function openUpload(target: Target, repository: string): Promise<string> {
  const res = await call(target, 'POST', `/v2/${repository}/blobs/uploads/`, { expect: [202] });
  const location = res.headers.location;
  if (typeof location !== 'string') throw new Error(`${target.label}: upload opened without a Location header`);
  const resolved = new URL(location, target.url);
  if (resolved.origin !== new URL(target.url).origin) {
    throw new Error(`${target.label}: upload Location ${resolved.origin} is not the target's origin ${target.url}`);
  }
  return resolved.href;
}

export function withDigest(uploadUrl: string, digest: string): string {
  const url = new URL(uploadUrl);
  url.searchParams.set('digest', digest);
  return url.href;
}

export async function pushBlob(target: Target, repository: string, data: Buffer | string): Promise<string> {
  const digest = sha256Digest(data);
  const uploadUrl = await openUpload(target, repository);
  await call(target, 'PUT', withDigest(uploadUrl, digest), {
    headers: { 'content-type': 'application/octet-stream' },
    body: data,
    expect: [201],
  });
  return digest;
}

/** A one-layer OCI image `repository:tag`, for `HEAD /v2/<repo>/manifests/<tag>`. */
export async function pushSmallImage(target: Target, repository: string, tag: string): Promise<string> {
  const layer = Buffer.from(`registry-gate bench layer ${repository}\n`);
  const config = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256Digest(layer)] } });
  const layerDigest = await pushBlob(target, repository, layer);
  const configDigest = await pushBlob(target, repository, config);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: Buffer.byteLength(config) },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layer.length }],
  });
  await call(target, 'PUT', `/v2/${repository}/manifests/${tag}`, {
    headers: { 'content-type': OCI_MANIFEST },
    body: manifest,
    expect: [201],
  });
  await call(target, 'HEAD', `/v2/${repository}/manifests/${tag}`, { headers: { accept: MANIFEST_ACCEPT }, expect: [200] });
  return sha256Digest(manifest);
}

/** Status of one request with the benchmark credentials (for checking a workload before timing it). */
export async function statusOf(
  target: Target,
  method: 'GET' | 'HEAD',
  path: string,
  headers: Record<string, string> = {},
): Promise<number> {
  const res = await request(`${target.url}${path}`, {
    method,
    headers: { authorization: target.authorization, ...headers },
    dispatcher: target.dispatcher,
    headersTimeout: 30_000,
  });
  await res.body.dump();
  return res.statusCode;
}
