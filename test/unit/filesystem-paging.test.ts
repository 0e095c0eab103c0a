/**
 * Paging of tags and repositories in the built-in registry: `n`/`last` parsing with a hard cap,
 * lexical order, Link headers; against a real store in a temp dir.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BlobStore } from '../../src/backend/filesystem/blob-store.js';
import { digestBytes } from '../../src/backend/filesystem/digest.js';
import { mkdirDurable } from '../../src/lib/atomic-write.js';
import { StorageLayout } from '../../src/backend/filesystem/layout.js';
import { ManifestStore } from '../../src/backend/filesystem/manifest-store.js';
import { parseManifest } from '../../src/backend/filesystem/manifest-validation.js';
import { OCI_INDEX } from '../../src/oci/media-types.js';
import { firstIndexAfter, nextLinkHeader } from '../../src/backend/filesystem/paging.js';
import { MAX_PAGE_SIZE, parsePageRequest as parsePaging } from '../../src/oci/paging.js';
import { listRepositoryNames } from '../../src/backend/filesystem/repositories.js';
import { RegistryError } from '../../src/oci/errors.js';
import { makeTempDir, removeDir } from '../helpers/process.js';

const parsePageRequest = (query: URLSearchParams) => parsePaging(query, MAX_PAGE_SIZE);

describe('parsePageRequest', () => {
  test('n is optional, capped, and never trusted as a size', () => {
    assert.deepEqual(parsePageRequest(new URLSearchParams('')), { n: undefined, last: undefined });
    assert.deepEqual(parsePageRequest(new URLSearchParams('n=0')), { n: 0, last: undefined });
    assert.deepEqual(parsePageRequest(new URLSearchParams('n=10&last=v1')), { n: 10, last: 'v1' });
    assert.equal(parsePageRequest(new URLSearchParams('n=999999999')).n, MAX_PAGE_SIZE);
  });

  test('a malformed n is a 400', () => {
    for (const bad of ['-1', '1.5', 'ten', '1e3', '9999999999']) {
      assert.throws(
        () => parsePageRequest(new URLSearchParams(`n=${bad}`)),
        (error: unknown) => error instanceof RegistryError && error.status === 400 && error.code === 'PAGINATION_NUMBER_INVALID',
        bad,
      );
    }
  });

  test('firstIndexAfter and the Link header', () => {
    const sorted = ['a', 'b', 'c', 'e'];
    assert.equal(firstIndexAfter(sorted, undefined), 0);
    assert.equal(firstIndexAfter(sorted, 'b'), 2);
    assert.equal(firstIndexAfter(sorted, 'd'), 3, 'a cursor that is not an entry');
    assert.equal(firstIndexAfter(sorted, 'z'), 4);
    assert.equal(nextLinkHeader('/v2/x/tags/list', { items: ['a', 'b'], next: 'b', size: 2 }), '</v2/x/tags/list?last=b&n=2>; rel="next"');
    assert.equal(nextLinkHeader('/v2/x/tags/list', { items: ['a'], next: undefined, size: 2 }), undefined);
  });
});

describe('tags and repositories on disk', () => {
  let root: string;
  let layout: StorageLayout;
  let manifests: ManifestStore;

  before(async () => {
    root = await makeTempDir('registry-gate-paging-');
    layout = new StorageLayout(root);
    await mkdirDurable(layout.tmpDir);
    manifests = new ManifestStore(layout, new BlobStore(layout));
  });
  after(() => removeDir(root));

  test('a page never holds more than the cap, whatever n asks; pages chain without gaps', async () => {
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] }));
    const manifest = parseManifest(bytes, OCI_INDEX);
    const digest = digestBytes('sha256', bytes);
    const tags = Array.from({ length: MAX_PAGE_SIZE + 5 }, (_, i) => `v${String(i).padStart(4, '0')}`);
    await manifests.put('big/repo', manifest, bytes, digest, undefined);
    // The tag files as put() writes them, minus the fsyncs, to keep the test fast.
    await mkdir(layout.tagsDir('big/repo'), { recursive: true });
    await Promise.all(tags.map((tag) => writeFile(layout.tag('big/repo', tag), digest.value)));

    const first = await manifests.tagsPage('big/repo', parsePageRequest(new URLSearchParams('n=5000')));
    assert.equal(first?.items.length, MAX_PAGE_SIZE);
    assert.equal(first.next, 'v0999');
    const collected = [...first.items];
    let next: string | undefined = first.next;
    while (next !== undefined) {
      const page = await manifests.tagsPage('big/repo', { n: MAX_PAGE_SIZE, last: next });
      collected.push(...(page?.items ?? []));
      next = page?.next;
    }
    assert.deepEqual(collected, tags);

    const none = await manifests.tagsPage('big/repo', { n: 0, last: undefined });
    assert.deepEqual(none, { items: [], next: undefined, size: 0 });
    assert.equal(await manifests.tagsPage('no/such/repo', { n: undefined, last: undefined }), undefined);
  });

  test('a tag whose manifest is gone is not listed', async () => {
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [], annotations: { n: '2' } }));
    const digest = digestBytes('sha256', bytes);
    await manifests.put('dangling', parseManifest(bytes, OCI_INDEX), bytes, digest, 'kept');
    await manifests.put('dangling', parseManifest(bytes, OCI_INDEX), bytes, digest, 'lost');
    await manifests.deleteManifest('dangling', digest);
    await manifests.put('dangling', parseManifest(bytes, OCI_INDEX), bytes, digest, 'kept');
    assert.deepEqual((await manifests.tagsPage('dangling', { n: undefined, last: undefined }))?.items, ['kept']);
  });

  test('repositories come in whole-name lexical order, after a cursor, up to a limit', async () => {
    const names = ['a', 'a/b', 'a-b', 'a.b', 'a0', 'a_b', 'b/c/d', 'b/c', 'z9/x'];
    for (const name of names) await mkdir(join(layout.repository(name), '_layers'), { recursive: true });
    await mkdir(join(layout.repositoriesDir, 'only', 'folders'), { recursive: true }); // not repositories
    const expected = [...names, 'big/repo', 'dangling'].sort();
    assert.deepEqual(await listRepositoryNames(layout.repositoriesDir, undefined, 100), expected);
    for (let cut = 0; cut < expected.length; cut++) {
      const cursor = expected[cut];
      assert.deepEqual(await listRepositoryNames(layout.repositoriesDir, cursor, 3), expected.slice(cut + 1, cut + 4), `after ${cursor}`);
    }
    assert.deepEqual(await listRepositoryNames(layout.repositoriesDir, 'a/a', 2), ['a/b', 'a0']);
    assert.deepEqual(await listRepositoryNames(layout.repositoriesDir, undefined, 0), []);
  });
});
