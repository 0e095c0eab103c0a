import { test } from 'node:test';
import assert from 'node:assert/strict';
import { routeFromUrl } from '../../src/oci/route.js';
import { isValidRepositoryName } from '../../src/oci/names.js';
import { RegistryError } from '../../src/oci/errors.js';

const DIGEST = 'sha256:' + 'a'.repeat(64);

function refused(url: string, method?: string): string {
  try {
    routeFromUrl(url, method);
  } catch (error) {
    assert.ok(error instanceof RegistryError, `${url} threw a non-registry error`);
    return error.code;
  }
  assert.fail(`${url} was accepted`);
}

test('parses every endpoint of the distribution API', () => {
  assert.deepEqual(routeFromUrl('/v2/'), { kind: 'base', repository: '', reference: '', path: '/v2/', rawQuery: '' });
  assert.equal(routeFromUrl('/v2/_catalog?n=5').kind, 'catalog');
  assert.equal(routeFromUrl('/v2/_catalog?n=5').rawQuery, 'n=5');
  assert.deepEqual(routeFromUrl('/v2/team/app/tags/list?n=2&last=a'), {
    kind: 'tags',
    repository: 'team/app',
    reference: '',
    path: '/v2/team/app/tags/list',
    rawQuery: 'n=2&last=a',
  });
  assert.equal(routeFromUrl('/v2/a/manifests/latest').reference, 'latest');
  assert.equal(routeFromUrl(`/v2/a/manifests/${DIGEST}`).reference, DIGEST);
  assert.equal(routeFromUrl(`/v2/a/b/blobs/${DIGEST}`).kind, 'blob');
  assert.equal(routeFromUrl('/v2/a/b/blobs/uploads/').kind, 'upload-start');
  assert.equal(routeFromUrl('/v2/a/b/blobs/uploads').kind, 'upload-start');
  const upload = routeFromUrl('/v2/a/b/blobs/uploads/3f2a-b_c=?_state=xyz');
  assert.equal(upload.kind, 'upload');
  assert.equal(upload.reference, '3f2a-b_c=');
  assert.equal(upload.repository, 'a/b');
  assert.equal(routeFromUrl(`/v2/a/referrers/${DIGEST}?artifactType=x`).kind, 'referrers');
});

test('a repository may contain the words the API uses', () => {
  assert.equal(routeFromUrl('/v2/manifests/manifests/latest').repository, 'manifests');
  assert.equal(routeFromUrl('/v2/x/blobs/tags/list').repository, 'x/blobs');
  assert.equal(routeFromUrl(`/v2/x/blobs/uploads/blobs/${DIGEST}`).repository, 'x/blobs/uploads');
});

test('hostile paths are refused before any decision', () => {
  for (const url of [
    '/v2/a%2Fb/manifests/latest',
    '/v2/a%2fb/manifests/latest',
    '/v2/%2e%2e/manifests/latest',
    '/v2/a/../b/manifests/latest',
    '/v2/a/./manifests/latest',
    '/v2//a/manifests/latest',
    '/v2/a//b/manifests/latest',
    '/v2/a/manifests/latest/',
    '/v2',
    '/v1/_ping',
    '/',
    '/v2/a/unknown/x',
  ]) {
    assert.equal(refused(url), 'NOT_FOUND', url);
  }
  for (const url of [
    '/v2/Upper/manifests/latest',
    `/v2/${'a'.repeat(256)}/manifests/latest`,
    '/v2/a-/manifests/x',
    '/v2/_a/tags/list',
    '/v2/a__-b/tags/list',
  ]) {
    assert.equal(refused(url), 'NAME_INVALID', url);
  }
  assert.equal(refused('/v2/a/blobs/notadigest'), 'DIGEST_INVALID');
});

// The OCI conformance suite reads `.INVALID_MANIFEST_NAME` and expects 404 (distribution-spec:
// a manifest that is not found is 404); a write of such a reference stays a 400.
test('a manifest reference that is neither a tag nor a digest: 404 to a read, 400 to a write', () => {
  for (const reference of ['.INVALID_MANIFEST_NAME', '-bad', 'a'.repeat(129), 'sha256:', 'x:y:z']) {
    for (const method of ['GET', 'HEAD'])
      assert.equal(refused(`/v2/a/manifests/${reference}`, method), 'MANIFEST_UNKNOWN', `${method} ${reference}`);
    for (const method of ['PUT', 'DELETE'])
      assert.equal(refused(`/v2/a/manifests/${reference}`, method), 'MANIFEST_INVALID', `${method} ${reference}`);
  }
  assert.equal(refused('/v2/Upper/manifests/.bad', 'GET'), 'NAME_INVALID', 'the name is checked first');
  assert.equal(refused('/v2/a/manifests/..', 'GET'), 'NOT_FOUND', 'dot segments are no reference');
});

test('repository name grammar', () => {
  for (const name of ['a', 'a/b', 'a.b', 'a_b', 'a__b', 'a---b', 'a0/b1/c2', 'x'.repeat(255)]) assert.ok(isValidRepositoryName(name), name);
  for (const name of ['', 'A', 'a/', '/a', 'a..b', 'a._b', 'a/-b', 'x'.repeat(256), 'a b']) assert.ok(!isValidRepositoryName(name), name);
});
