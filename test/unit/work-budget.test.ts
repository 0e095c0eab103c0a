/**
 * The pieces every bounded walk is made of: the per-request budget (src/lib/work-budget.ts) and
 * the lenient reading of what a manifest references (src/oci/manifest-references.ts), which must
 * never miss a reference a client would follow, whatever the manifest's type.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { WorkBudget } from '../../src/lib/work-budget.js';
import { manifestReferences } from '../../src/oci/manifest-references.js';

const digest = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;

describe('WorkBudget', () => {
  test('counts reads, bytes and tags up to the limits, and says once any step was refused', () => {
    const budget = new WorkBudget({ manifests: 2, bytes: 100, depth: 1, children: 3, tags: 5 });
    assert.equal(budget.readManifest(), true);
    assert.equal(budget.parseBytes(60), true);
    assert.equal(budget.lookAtTags(5), true);
    assert.equal(budget.follows(1), true);
    assert.equal(budget.followsAll(3), true);
    assert.equal(budget.exceeded, false);
    assert.equal(budget.parseBytes(41), false, 'past the bytes');
    assert.equal(budget.exceeded, true);
    assert.equal(budget.parseBytes(40), true, 'a refused step counted nothing');
    assert.equal(budget.readManifest(), true);
    assert.equal(budget.readManifest(), false);
    assert.equal(budget.lookAtTags(1), false);
    assert.equal(budget.follows(2), false);
    assert.equal(budget.followsAll(4), false);
    assert.deepEqual(budget.spent, { manifests: 2, bytes: 100, tags: 5 });
  });
});

describe('manifestReferences', () => {
  const json = (value: unknown) => Buffer.from(JSON.stringify(value));

  test('an image: its config and layers; an index: its entries', () => {
    assert.deepEqual(manifestReferences(json({ config: { digest: digest(1) }, layers: [{ digest: digest(2) }, { digest: digest(3) }] })), {
      blobs: [digest(1), digest(2), digest(3)],
      children: [],
    });
    assert.deepEqual(manifestReferences(json({ manifests: [{ digest: digest(4) }, { digest: digest(5) }] })), {
      blobs: [],
      children: [digest(4), digest(5)],
    });
  });

  test('whatever the type says: artifact blobs and schema 1 fsLayers count; a subject does not', () => {
    const odd = {
      mediaType: 'application/x-anything',
      blobs: [{ digest: digest(6) }],
      fsLayers: [{ blobSum: digest(7) }],
      subject: { digest: digest(8) },
    };
    assert.deepEqual(manifestReferences(json(odd)), { blobs: [digest(6), digest(7)], children: [] });
  });

  test('malformed entries are skipped; bytes that are not a JSON object say nothing', () => {
    assert.deepEqual(manifestReferences(json({ layers: [null, 3, { digest: 4 }, { digest: digest(9) }], manifests: 'x' })), {
      blobs: [digest(9)],
      children: [],
    });
    for (const bytes of [Buffer.from('not json'), json([1, 2]), json('text'), Buffer.alloc(0)])
      assert.equal(manifestReferences(bytes), undefined);
  });
});
