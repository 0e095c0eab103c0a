/** Contract sections: manifests (push, pull, validation), referrers, tags and paging, deletes. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  assertError,
  DOCKER_LIST,
  DOCKER_MANIFEST,
  OCI_EMPTY,
  OCI_INDEX,
  OCI_LAYER,
  OCI_MANIFEST,
  randomBlob,
  sha256,
  sha512,
} from './registry-client.js';
import type { SuiteContext } from './contract.js';

export function manifestSection({ client, repo, isBuiltin }: SuiteContext): void {
  test('an OCI image manifest pushed by tag is served byte for byte, by tag and by digest', async () => {
    const name = repo('oci-image');
    const image = await client.pushImage(name, 'v1', { layers: 2 });
    for (const reference of ['v1', image.digest]) {
      const get = await client.call('GET', `/v2/${name}/manifests/${reference}`, { headers: { accept: OCI_MANIFEST } });
      assert.equal(get.status, 200);
      assert.deepEqual(get.body, image.manifest);
      assert.equal(get.headers['content-type'], OCI_MANIFEST);
      assert.equal(get.headers['docker-content-digest'], image.digest);
      const head = await client.call('HEAD', `/v2/${name}/manifests/${reference}`, { headers: { accept: OCI_MANIFEST } });
      assert.equal(head.status, 200);
      assert.equal(head.body.length, 0);
      assert.equal(head.headers['content-length'], String(image.manifest.length));
    }
  });

  test('PUT answers 201 with Location and the digest; odd whitespace and key order are kept', async () => {
    const name = repo('exact-bytes');
    const config = Buffer.from('{}');
    const configDigest = await client.pushBlob(name, config);
    const layer = randomBlob(100);
    const layerDigest = await client.pushBlob(name, layer);
    const manifest = Buffer.from(
      `{\n  "layers": [ {"size": ${layer.length}, "digest": "${layerDigest}", "mediaType": "${OCI_LAYER}"} ],\n` +
        `  "schemaVersion": 2, "mediaType": "${OCI_MANIFEST}",\n  "config": {"mediaType": "${OCI_EMPTY}", "digest": "${configDigest}", "size": 2}\n}\n\n`,
    );
    const put = await client.pushManifest(name, 'exact', manifest, OCI_MANIFEST);
    assert.equal(put.headers['docker-content-digest'], sha256(manifest));
    assert.ok(put.headers.location?.endsWith(`/v2/${name}/manifests/${sha256(manifest)}`));
    assert.deepEqual((await client.call('GET', `/v2/${name}/manifests/exact`)).body, manifest);
  });

  test('Docker schema2 manifests and manifest lists, OCI indexes, pushes by digest', async () => {
    const name = repo('indexes');
    const amd = await client.pushImage(name, 'amd64', { docker: true });
    const arm = await client.pushImage(name, 'arm64', { docker: true });
    assert.equal((await client.call('GET', `/v2/${name}/manifests/amd64`)).headers['content-type'], DOCKER_MANIFEST);
    const entry = (image: typeof amd, architecture: string) => ({
      mediaType: image.mediaType,
      digest: image.digest,
      size: image.manifest.length,
      platform: { architecture, os: 'linux' },
    });
    const list = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: DOCKER_LIST, manifests: [entry(amd, 'amd64'), entry(arm, 'arm64')] }),
    );
    await client.pushManifest(name, 'multi', list, DOCKER_LIST);
    const get = await client.call('GET', `/v2/${name}/manifests/multi`);
    assert.equal(get.headers['content-type'], DOCKER_LIST);
    assert.deepEqual(get.body, list);

    const oci = await client.pushImage(name, 'oci');
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [{ mediaType: OCI_MANIFEST, digest: oci.digest, size: oci.manifest.length }],
      }),
    );
    const byDigest = await client.pushManifest(name, sha256(index), index, OCI_INDEX);
    assert.equal(byDigest.headers['docker-content-digest'], sha256(index));
    assert.deepEqual((await client.call('GET', `/v2/${name}/manifests/${sha256(index)}`)).body, index);
  });

  test('manifest validation: bad JSON, missing blobs or child manifests, digest mismatch', async () => {
    const name = repo('validation');
    const image = await client.pushImage(name, 'base');
    const put = (reference: string, body: Buffer | string, type = OCI_MANIFEST) =>
      client.call('PUT', `/v2/${name}/manifests/${reference}`, { headers: { 'content-type': type }, body });

    assertError(await put('broken', '{"schemaVersion": 2, '), 400, 'MANIFEST_INVALID');
    const config = Buffer.from('{"os":"linux"}');
    const configDigest = await client.pushBlob(name, config);
    const missingLayer = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: [{ mediaType: OCI_LAYER, digest: sha256('never pushed'), size: 12 }],
    });
    // Distribution 2.8 says 400, the spec's endpoint table 404: the code is what matters.
    assertError(await put('missing', missingLayer), [400, 404], 'MANIFEST_BLOB_UNKNOWN');
    const missingChild = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [{ mediaType: OCI_MANIFEST, digest: sha256('no such manifest'), size: 10 }],
    });
    assertError(await put('missing-child', missingChild, OCI_INDEX), [400, 404], 'MANIFEST_BLOB_UNKNOWN');
    assertError(await put(sha256('something else'), image.manifest), 400, 'DIGEST_INVALID');
    assertError(await client.call('GET', `/v2/${name}/manifests/missing`), 404, 'MANIFEST_UNKNOWN');

    assertError(await put('mismatch', image.manifest, OCI_INDEX), 400, 'MANIFEST_INVALID');
    const huge = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, annotations: { pad: 'x'.repeat(4 * 1024 * 1024) } });
    // The spec asks for 413; Distribution 2.8 refuses oversized manifests with 400.
    assertError(await put('huge', huge), isBuiltin() ? 413 : [400, 413], 'MANIFEST_INVALID');
    if (isBuiltin()) {
      // A blob of another repository is not this repository's: no leak through deduplication.
      const other = repo('validation-other');
      assertError(
        await client.call('PUT', `/v2/${other}/manifests/copy`, { headers: { 'content-type': OCI_MANIFEST }, body: image.manifest }),
        404,
        'MANIFEST_BLOB_UNKNOWN',
      );
    }
  });

  test('manifests by sha512 digest', async () => {
    const name = repo('manifest-sha512');
    const image = await client.pushImage(name, 'tagged');
    const digest = sha512(image.manifest);
    if (!isBuiltin()) {
      // Distribution 2.8 deviates: it refuses a manifest pushed by a sha512 digest. Checked, so a change shows.
      const refused = await client.call('PUT', `/v2/${name}/manifests/${digest}`, {
        headers: { 'content-type': OCI_MANIFEST },
        body: image.manifest,
      });
      assertError(refused, 400, 'DIGEST_INVALID');
      return;
    }
    const put = await client.pushManifest(name, digest, image.manifest, OCI_MANIFEST);
    assert.equal(put.headers['docker-content-digest'], digest);
    const get = await client.call('GET', `/v2/${name}/manifests/${digest}`);
    assert.equal(get.status, 200);
    assert.deepEqual(get.body, image.manifest);
  });

  test('concurrent pushes to one tag: every push is accepted and the tag ends on one whole manifest', async () => {
    const name = repo('same-tag');
    const images = await Promise.all(Array.from({ length: 4 }, (_, i) => client.pushImage(name, `seed-${i}`)));
    await Promise.all(images.map((image) => client.pushManifest(name, 'race', image.manifest, image.mediaType)));
    const get = await client.call('GET', `/v2/${name}/manifests/race`);
    assert.ok(images.some((image) => image.manifest.equals(get.body)));
    assert.equal(get.headers['docker-content-digest'], sha256(get.body));
  });
}

export function referrersSection({ client, repo, isBuiltin }: SuiteContext): void {
  test('referrers API: OCI-Subject on push, descriptors with artifactType and annotations, filtering', async () => {
    const name = repo('referrers');
    if (!isBuiltin()) {
      // Distribution 2.8 deviates: it has no referrers API at all (404 for the endpoint). Checked, so a change shows.
      const image = await client.pushImage(name, 'app');
      assert.equal((await client.call('GET', `/v2/${name}/referrers/${image.digest}`)).status, 404);
      return;
    }
    const subject = await client.pushImage(name, 'app');
    const subjectDescriptor = { mediaType: OCI_MANIFEST, digest: subject.digest, size: subject.manifest.length };
    const empty = await client.pushBlob(name, Buffer.from('{}'));
    const sbomLayer = randomBlob(64);
    const sbomLayerDigest = await client.pushBlob(name, sbomLayer);
    const sbom = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType: 'application/vnd.example.sbom',
        config: { mediaType: OCI_EMPTY, digest: empty, size: 2 },
        layers: [{ mediaType: 'application/spdx+json', digest: sbomLayerDigest, size: sbomLayer.length }],
        subject: subjectDescriptor,
        annotations: { 'org.example.kind': 'sbom' },
      }),
    );
    const put = await client.pushManifest(name, sha256(sbom), sbom, OCI_MANIFEST);
    assert.equal(put.headers['oci-subject'], subject.digest);
    // No artifactType: the referrers API reports the config's media type instead.
    const signature = await client.pushImage(name, 'signature-holder', { extra: { subject: subjectDescriptor } });

    const list = await client.call('GET', `/v2/${name}/referrers/${subject.digest}`);
    assert.equal(list.status, 200);
    assert.equal(list.headers['content-type'], OCI_INDEX);
    const index = list.json<{ schemaVersion: number; mediaType: string; manifests: Record<string, unknown>[] }>();
    assert.equal(index.schemaVersion, 2);
    assert.equal(index.mediaType, OCI_INDEX);
    const byDigest = new Map(index.manifests.map((d) => [d.digest, d]));
    assert.deepEqual(byDigest.get(sha256(sbom)), {
      mediaType: OCI_MANIFEST,
      digest: sha256(sbom),
      size: sbom.length,
      artifactType: 'application/vnd.example.sbom',
      annotations: { 'org.example.kind': 'sbom' },
    });
    assert.equal(byDigest.get(signature.digest)?.artifactType, 'application/vnd.oci.image.config.v1+json');
    assert.equal(index.manifests.length, 2);

    const filtered = await client.call(
      'GET',
      `/v2/${name}/referrers/${subject.digest}?artifactType=${encodeURIComponent('application/vnd.example.sbom')}`,
    );
    assert.equal(filtered.headers['oci-filters-applied'], 'artifactType');
    assert.deepEqual(
      filtered.json<{ manifests: { digest: string }[] }>().manifests.map((d) => d.digest),
      [sha256(sbom)],
    );

    const unknown = await client.call('GET', `/v2/${name}/referrers/${sha256('no such subject')}`);
    assert.equal(unknown.status, 200);
    assert.deepEqual(unknown.json<{ manifests: unknown[] }>().manifests, []);
    assertError(await client.call('GET', `/v2/${name}/referrers/sha256:xyz`), 400, 'DIGEST_INVALID');

    assert.equal((await client.call('DELETE', `/v2/${name}/manifests/${sha256(sbom)}`)).status, 202);
    const afterDelete = await client.call('GET', `/v2/${name}/referrers/${subject.digest}`);
    assert.deepEqual(
      afterDelete.json<{ manifests: { digest: string }[] }>().manifests.map((d) => d.digest),
      [signature.digest],
    );
  });

  test('a referrer may be pushed before its subject exists', async (t) => {
    if (!isBuiltin()) {
      t.skip('Distribution 2.8 has no referrers API (checked by the test above)');
      return;
    }
    const name = repo('referrer-first');
    const absent = { mediaType: OCI_MANIFEST, digest: sha256('not yet pushed'), size: 123 };
    const artifact = await client.pushImage(name, 'early', { extra: { subject: absent, artifactType: 'application/vnd.example.sig' } });
    const list = await client.call('GET', `/v2/${name}/referrers/${absent.digest}`);
    assert.deepEqual(
      list.json<{ manifests: { digest: string }[] }>().manifests.map((d) => d.digest),
      [artifact.digest],
    );
  });
}

export function tagsAndDeletesSection({ client, repo, isBuiltin }: SuiteContext): void {
  test('tags list: sorted; unknown repository is NAME_UNKNOWN', async () => {
    const name = repo('tags');
    const image = await client.pushImage(name, 'b');
    for (const tag of ['a', 'C', 'c', '1.0']) await client.pushManifest(name, tag, image.manifest, image.mediaType);
    const list = await client.call('GET', `/v2/${name}/tags/list`);
    assert.equal(list.status, 200);
    const { name: listed, tags } = list.json<{ name: string; tags: string[] }>();
    assert.equal(listed, name);
    // Distribution 2.8 lists tags in directory order, against the spec's MUST: sorted on builtin only.
    assert.deepEqual(isBuiltin() ? tags : [...tags].sort(), ['1.0', 'C', 'a', 'b', 'c']);
    assertError(await client.call('GET', `/v2/${repo('never-pushed')}/tags/list`), 404, 'NAME_UNKNOWN');
  });

  test('tags paging with n and last, and a Link header to the next page', async () => {
    const name = repo('tag-pages');
    const image = await client.pushImage(name, 't0');
    for (const tag of ['t1', 't2', 't3', 't4']) await client.pushManifest(name, tag, image.manifest, image.mediaType);
    const first = await client.call('GET', `/v2/${name}/tags/list?n=2`);
    if (!isBuiltin()) {
      // Distribution 2.8 deviates: it ignores n and lists every tag at once. Checked, so a change shows.
      assert.equal(first.json<{ tags: string[] }>().tags.length, 5);
      return;
    }
    assert.deepEqual(first.json<{ tags: string[] }>().tags, ['t0', 't1']);
    assert.equal(first.headers.link, `</v2/${name}/tags/list?last=t1&n=2>; rel="next"`);
    const next = /^<([^>]+)>/.exec(first.headers.link)?.[1] ?? assert.fail(`no next link in ${first.headers.link}`);
    const second = await client.call('GET', next);
    assert.deepEqual(second.json<{ tags: string[] }>().tags, ['t2', 't3']);
    const third = await client.call('GET', `/v2/${name}/tags/list?n=2&last=t3`);
    assert.deepEqual(third.json<{ tags: string[] }>().tags, ['t4']);
    assert.equal(third.headers.link, undefined);
    const none = await client.call('GET', `/v2/${name}/tags/list?n=0`);
    assert.deepEqual(none.json<{ tags: string[] }>().tags, []);
    assert.equal(none.headers.link, undefined);
    assert.deepEqual((await client.call('GET', `/v2/${name}/tags/list?last=t2`)).json<{ tags: string[] }>().tags, ['t3', 't4']);
    assertError(await client.call('GET', `/v2/${name}/tags/list?n=-1`), 400, 'UNSUPPORTED');
  });

  test('DELETE a tag removes only the tag', async () => {
    const name = repo('delete-tag');
    const image = await client.pushImage(name, 'keep');
    await client.pushManifest(name, 'drop', image.manifest, image.mediaType);
    if (!isBuiltin()) {
      // Distribution 2.8 has tag deletion disabled, which the spec allows with a 400 or 405.
      const refused = await client.call('DELETE', `/v2/${name}/manifests/drop`);
      assert.ok([400, 405].includes(refused.status), `got ${refused.status}`);
      return;
    }
    assert.equal((await client.call('DELETE', `/v2/${name}/manifests/drop`)).status, 202);
    assertError(await client.call('GET', `/v2/${name}/manifests/drop`), 404, 'MANIFEST_UNKNOWN');
    assert.equal((await client.call('GET', `/v2/${name}/manifests/keep`)).status, 200);
    assert.equal((await client.call('GET', `/v2/${name}/manifests/${image.digest}`)).status, 200);
    assertError(await client.call('DELETE', `/v2/${name}/manifests/drop`), 404, 'MANIFEST_UNKNOWN');
  });

  test('DELETE a manifest by digest removes it and every tag on it; DELETE a blob', async () => {
    const name = repo('delete-manifest');
    const image = await client.pushImage(name, 'one');
    await client.pushManifest(name, 'two', image.manifest, image.mediaType);
    assert.equal((await client.call('DELETE', `/v2/${name}/manifests/${image.digest}`)).status, 202);
    for (const reference of [image.digest, 'one', 'two']) {
      assertError(await client.call('GET', `/v2/${name}/manifests/${reference}`), 404, 'MANIFEST_UNKNOWN');
    }
    assertError(await client.call('DELETE', `/v2/${name}/manifests/${image.digest}`), 404, 'MANIFEST_UNKNOWN');

    const blob = image.blobs[1] as string;
    assert.equal((await client.call('DELETE', `/v2/${name}/blobs/${blob}`)).status, 202);
    assertError(await client.call('GET', `/v2/${name}/blobs/${blob}`), 404, 'BLOB_UNKNOWN');
    assertError(await client.call('DELETE', `/v2/${name}/blobs/${blob}`), 404, 'BLOB_UNKNOWN');
  });

  test('the catalog lists pushed repositories', async () => {
    const name = repo('catalog');
    await client.pushImage(name, 'latest');
    const catalog = await client.call('GET', '/v2/_catalog?n=1000');
    assert.equal(catalog.status, 200);
    assert.ok(catalog.json<{ repositories: string[] }>().repositories.includes(name));
  });
}
