/**
 * One HTTP conformance suite for every registry behind the gateway: the built-in registry and CNCF
 * Distribution 2.8 (distribution's storage driver test suite is the model). It checks the
 * OCI distribution spec v1.1: push and pull (monolithic, chunked, streamed, ranges, 416 cases,
 * digest mismatch, mount), manifest validation, referrers, tag paging, deletes, sha512 and the
 * error JSON.
 *
 * Where Distribution 2.8 deviates from the spec (no referrers API; tags neither sorted nor paged;
 * Content-Range ignored on PATCH, so no 416 for chunks out of order; a malformed 416 on blob
 * ranges; BLOB_UPLOAD_INVALID for unknown uploads; no manifests by sha512), the spec's behaviour is
 * checked for `builtin` only, and the test says so. Where the spec leaves a choice (single-POST
 * upload or 202, tag deletion disabled with 400/405, the digest header of sha512 blobs), each
 * registry is held to the choice it made. Every test works in repositories of its own under a random prefix, so the
 * suite can run against a registry that already holds data.
 *
 *   registerContractSuite('built-in registry', () => ({ baseUrl, backend: 'builtin' }));
 */
import { randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Dispatcher } from 'undici';
import { blobPullSection, blobPushSection } from './contract-blobs.js';
import { manifestSection, referrersSection, tagsAndDeletesSection } from './contract-manifests.js';
import { RegistryClient } from './registry-client.js';

export interface ContractTarget {
  baseUrl: string;
  authHeader?: string;
  dispatcher?: Dispatcher;
  backend: 'builtin' | 'distribution';
}

export interface SuiteContext {
  readonly client: RegistryClient;
  /** A repository name of this suite run: `<random prefix>/<name>`. */
  readonly repo: (name: string) => string;
  /** Whether the target is the built-in registry (checked lazily: the target exists only once `before` ran). */
  readonly isBuiltin: () => boolean;
}

export function registerContractSuite(name: string, target: () => ContractTarget): void {
  const prefix = `contract-${randomBytes(4).toString('hex')}`;
  const context: SuiteContext = {
    client: new RegistryClient(target),
    repo: (repository) => `${prefix}/${repository}`,
    isBuiltin: () => target().backend === 'builtin',
  };

  describe(`registry contract: ${name}`, () => {
    test('GET /v2/ answers 200 with the API version header', async () => {
      const reply = await context.client.call('GET', '/v2/');
      assert.equal(reply.status, 200);
      assert.equal(reply.headers['docker-distribution-api-version'], 'registry/2.0');
    });
    describe('blob push', () => blobPushSection(context));
    describe('blob pull', () => blobPullSection(context));
    describe('manifests', () => manifestSection(context));
    describe('referrers', () => referrersSection(context));
    describe('tags and deletes', () => tagsAndDeletesSection(context));
  });
}
