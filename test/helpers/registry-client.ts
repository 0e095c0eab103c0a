/**
 * A small, honest registry client for tests: raw HTTP requests (undici) plus builders for blobs and
 * manifests. It hides nothing: every call returns status, headers and the whole body, so tests
 * assert on exactly what the server sent.
 */
import { createHash, randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import type { Readable } from 'node:stream';
import { request, type Dispatcher } from 'undici';

export interface Target {
  baseUrl: string;
  authHeader?: string;
  dispatcher?: Dispatcher;
}

export interface Reply {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** The body parsed as JSON, typed as the shape the test asserts on (not checked: a failing assertion shows a mismatch). */
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- a typed view of a reply, named at the call site of 29 assertions
  json<T = unknown>(): T;
  text(): string;
}

export interface CallOptions {
  headers?: Record<string, string>;
  /** A Readable is streamed (chunked transfer encoding), piece by piece. */
  body?: Buffer | string | Readable;
}

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
export const DOCKER_LAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip';

export const MANIFEST_ACCEPT = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST].join(', ');

/** The error codes the distribution spec allows, plus Distribution's RANGE_INVALID. */
export const SPEC_ERROR_CODES = new Set([
  'BLOB_UNKNOWN',
  'BLOB_UPLOAD_INVALID',
  'BLOB_UPLOAD_UNKNOWN',
  'DIGEST_INVALID',
  'MANIFEST_BLOB_UNKNOWN',
  'MANIFEST_INVALID',
  'MANIFEST_UNKNOWN',
  'NAME_INVALID',
  'NAME_UNKNOWN',
  'SIZE_INVALID',
  'UNAUTHORIZED',
  'DENIED',
  'UNSUPPORTED',
  'TOOMANYREQUESTS',
  'RANGE_INVALID',
]);

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export function sha512(data: Buffer | string): string {
  return `sha512:${createHash('sha512').update(data).digest('hex')}`;
}

export function randomBlob(size: number): Buffer {
  return randomBytes(size);
}

export class RegistryClient {
  constructor(private readonly target: () => Target) {}

  url(path: string): string {
    return new URL(path, this.target().baseUrl).toString();
  }

  async call(method: string, path: string, options: CallOptions = {}): Promise<Reply> {
    const target = this.target();
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    // Real clients always say which manifest types they take; Distribution 2.8 hides OCI manifests otherwise.
    if ((method === 'GET' || method === 'HEAD') && path.includes('/manifests/') && !('accept' in headers)) headers.accept = MANIFEST_ACCEPT;
    if (target.authHeader) headers.authorization = target.authHeader;
    const response = await request(new URL(path, target.baseUrl), {
      method: method,
      headers,
      ...(options.body !== undefined ? { body: options.body } : {}),
      ...(target.dispatcher ? { dispatcher: target.dispatcher } : {}),
    });
    const body = Buffer.from(await response.body.arrayBuffer());
    const flat: Record<string, string> = {};
    for (const [name, value] of Object.entries(response.headers)) {
      if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    return {
      status: response.statusCode,
      headers: flat,
      body,
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- see Reply.json
      json: <T>() => JSON.parse(body.toString('utf8')) as T,
      text: () => body.toString('utf8'),
    };
  }

  /** The path part of a Location header (relative or absolute), keeping its query. */
  static pathOf(location: string | undefined): string {
    assert.ok(location, 'expected a Location header');
    const parsed = new URL(location, 'http://placeholder');
    return parsed.pathname + parsed.search;
  }

  static withQuery(path: string, params: Record<string, string>): string {
    const parsed = new URL(path, 'http://placeholder');
    for (const [key, value] of Object.entries(params)) parsed.searchParams.set(key, value);
    return parsed.pathname + parsed.search;
  }

  async startUpload(repository: string): Promise<string> {
    const reply = await this.call('POST', `/v2/${repository}/blobs/uploads/`, { headers: { 'content-length': '0' } });
    assert.equal(reply.status, 202, `POST upload: ${reply.status} ${reply.text()}`);
    return RegistryClient.pathOf(reply.headers.location);
  }

  /** POST then PUT; asserts 201. Returns the digest. */
  async pushBlob(repository: string, data: Buffer, digest = sha256(data)): Promise<string> {
    const location = await this.startUpload(repository);
    const reply = await this.call('PUT', RegistryClient.withQuery(location, { digest }), {
      headers: { 'content-type': 'application/octet-stream' },
      body: data,
    });
    assert.equal(reply.status, 201, `PUT blob: ${reply.status} ${reply.text()}`);
    return digest;
  }

  /** PUT a manifest; asserts 201 and returns the reply. */
  async pushManifest(repository: string, reference: string, manifest: Buffer, mediaType: string): Promise<Reply> {
    const reply = await this.call('PUT', `/v2/${repository}/manifests/${reference}`, {
      headers: { 'content-type': mediaType },
      body: manifest,
    });
    assert.equal(reply.status, 201, `PUT manifest ${repository}:${reference}: ${reply.status} ${reply.text()}`);
    return reply;
  }

  /** Pushes a config and `layers` random layers and an OCI (or Docker) image manifest for them (`reference` `'digest'`: by its digest). */
  async pushImage(
    repository: string,
    reference: string,
    options: { layers?: number; docker?: boolean; extra?: Record<string, unknown> } = {},
  ): Promise<{ manifest: Buffer; digest: string; mediaType: string; blobs: string[] }> {
    const docker = options.docker === true;
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', nonce: randomBytes(8).toString('hex') }));
    const configDigest = await this.pushBlob(repository, config);
    const layers: { mediaType: string; digest: string; size: number }[] = [];
    for (let i = 0; i < (options.layers ?? 1); i++) {
      const layer = randomBlob(1024 + i);
      layers.push({ mediaType: docker ? DOCKER_LAYER : OCI_LAYER, digest: await this.pushBlob(repository, layer), size: layer.length });
    }
    const mediaType = docker ? DOCKER_MANIFEST : OCI_MANIFEST;
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType,
        config: { mediaType: docker ? DOCKER_CONFIG : OCI_CONFIG, digest: configDigest, size: config.length },
        layers,
        ...(options.extra ?? {}),
      }),
    );
    await this.pushManifest(repository, reference === 'digest' ? sha256(manifest) : reference, manifest, mediaType);
    return { manifest, digest: sha256(manifest), mediaType, blobs: [configDigest, ...layers.map((l) => l.digest)] };
  }

  /**
   * Pushes an OCI index of `entries` (manifests already in the repository) under `reference` (a
   * tag, or `'digest'` for its own digest); returns its descriptor, to be an entry of another.
   */
  async pushIndex(
    repository: string,
    reference: string,
    entries: ReadonlyArray<{ mediaType: string; digest: string; size: number; platform?: { os: string; architecture: string } }>,
    extra: Record<string, unknown> = {},
  ): Promise<{ mediaType: string; digest: string; size: number }> {
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: entries, ...extra }));
    const digest = sha256(bytes);
    await this.pushManifest(repository, reference === 'digest' ? digest : reference, bytes, OCI_INDEX);
    return { mediaType: OCI_INDEX, digest, size: bytes.length };
  }
}

/** Asserts an OCI error response: the status, and a JSON body `{errors:[{code,message}]}` with `code`. */
export function assertError(reply: Reply, status: number | number[], code: string | string[], method = 'GET'): void {
  const statuses = Array.isArray(status) ? status : [status];
  const codes = Array.isArray(code) ? code : [code];
  assert.ok(statuses.includes(reply.status), `expected status ${statuses.join('|')}, got ${reply.status}: ${reply.text()}`);
  if (method === 'HEAD') return;
  const body = reply.json<{ errors?: { code?: unknown; message?: unknown }[] }>();
  assert.ok(Array.isArray(body.errors) && body.errors.length > 0, `expected an errors array: ${reply.text()}`);
  for (const error of body.errors) {
    assert.equal(typeof error.code, 'string');
    assert.ok(SPEC_ERROR_CODES.has(error.code as string), `unexpected code ${String(error.code)}`);
    if (error.message !== undefined) assert.equal(typeof error.message, 'string');
  }
  assert.ok(
    body.errors.some((error) => codes.includes(error.code as string)),
    `expected code ${codes.join('|')}, got ${reply.text()}`,
  );
}
