import { test } from 'node:test';
import assert from 'node:assert/strict';
import { challengeScopes } from '../../src/gateway/challenge.js';
import { routeFromUrl } from '../../src/oci/route.js';

const DIGEST = 'sha256:' + 'a'.repeat(64);
const scopesOf = (url: string, method: string, action: 'pull' | 'push' | 'delete') => challengeScopes(routeFromUrl(url, method), action);

test('a request is challenged for its own scope', () => {
  assert.deepEqual(scopesOf('/v2/team/app/manifests/latest', 'GET', 'pull'), ['repository:team/app:pull']);
  assert.deepEqual(scopesOf('/v2/team/app/blobs/uploads/', 'POST', 'push'), ['repository:team/app:pull,push']);
  assert.deepEqual(scopesOf(`/v2/team/app/manifests/${DIGEST}`, 'DELETE', 'delete'), ['repository:team/app:delete']);
});

test('a mount is challenged for pull on its source too, as Distribution does', () => {
  assert.deepEqual(scopesOf(`/v2/team/app/blobs/uploads/?mount=${DIGEST}&from=base/image`, 'POST', 'push'), [
    'repository:team/app:pull,push',
    'repository:base/image:pull',
  ]);
  assert.deepEqual(scopesOf(`/v2/team/app/blobs/uploads/?from=base/image&mount=${DIGEST}`, 'POST', 'push'), [
    'repository:team/app:pull,push',
    'repository:base/image:pull',
  ]);
});

test('a source that would not be used for a mount is not asked for', () => {
  for (const query of [
    `mount=${DIGEST}&from=team/app`, // the target itself
    `mount=${DIGEST}&from=a&from=b`, // ambiguous: the mount parameters are removed
    `mount=${DIGEST}&mount=${DIGEST}&from=base/image`,
    `mount=${DIGEST}&from=Base/Image`, // not a repository name
    `mount=${DIGEST}&from=`,
    'from=base/image', // no mount
  ]) {
    assert.deepEqual(scopesOf(`/v2/team/app/blobs/uploads/?${query}`, 'POST', 'push'), ['repository:team/app:pull,push'], query);
  }
});
