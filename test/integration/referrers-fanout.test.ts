/**
 * One referrers request looks at a bounded number of entries, however many a subject has.
 *
 * The attack: whoever may push attaches thousands of small artifacts to one image (each a manifest
 * whose `subject` is the image). Every `GET /v2/<name>/referrers/<digest>` then read every one of
 * them, two files each, filtered by `artifactType` or not: asking for a type none of them has read
 * them all to answer an empty list. Now a request looks at MAX_REFERRERS_PER_PAGE entries at most
 * (src/lib/work-budget.ts) and the rest comes through the spec's `Link` header, page by page.
 *
 * The referrers are written to the built-in registry's storage directly, as a push writes them
 * (the link of the manifest, the descriptor under `_referrers/`), to keep the test quick.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { digestBytes, parseDigest } from '../../src/backend/filesystem/digest.js';
import { StorageLayout } from '../../src/backend/filesystem/layout.js';
import { MAX_REFERRERS_PER_PAGE } from '../../src/lib/work-budget.js';
import { basic, startGate, type TestGate } from '../helpers/gate.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { OCI_MANIFEST, RegistryClient } from '../helpers/registry-client.js';

const PASSWORDS = { alice: 'alice-pw-1' };
const REPOSITORY = 'team/app';
const COMMON = 'application/vnd.example.common';
const RARE = 'application/vnd.example.rare';
const RARE_COUNT = 3;

describe('a subject with more referrers than one request looks at', () => {
  let dir: string;
  let gate: TestGate;
  let alice: RegistryClient;
  let subject: string;

  before(async () => {
    dir = await makeTempDir('rg-referrers-fanout-');
    gate = await startGate({ dir, users: PASSWORDS, bcryptCost: 4 });
    alice = new RegistryClient(() => ({ baseUrl: gate.url, authHeader: basic('alice', PASSWORDS.alice) }));
    subject = (await alice.pushImage(REPOSITORY, 'v1')).digest;
    const layout = new StorageLayout(join(dir, 'data', 'registry'));
    // In the order of their digests, the first MAX_REFERRERS_PER_PAGE are of a common type, the rest rare.
    const digests = Array.from({ length: MAX_REFERRERS_PER_PAGE + RARE_COUNT }, (_, index) =>
      digestBytes('sha256', Buffer.from(`referrer ${index}`)),
    );
    const sorted = digests.sort((a, b) => (a.value < b.value ? -1 : 1));
    for (const [position, digest] of sorted.entries()) {
      const artifactType = position < MAX_REFERRERS_PER_PAGE ? COMMON : RARE;
      const link = layout.manifestLink(REPOSITORY, digest);
      const entry = layout.referrerEntry(REPOSITORY, parseDigest(subject), digest);
      for (const path of [link, entry]) await mkdir(dirname(path), { recursive: true });
      await writeFile(link, OCI_MANIFEST);
      await writeFile(entry, JSON.stringify({ mediaType: OCI_MANIFEST, digest: digest.value, size: 100, artifactType }));
    }
  });

  after(async () => {
    await gate.stop();
    if (dir) await removeDir(dir);
  });

  /** Every page of a referrers listing, following each Link (ten at most). */
  async function allPages(path: string): Promise<{ pages: Array<{ types: string[] }>; types: string[] }> {
    const pages: Array<{ types: string[] }> = [];
    for (let next: string | undefined = path; next !== undefined && pages.length < 10;) {
      const reply = await alice.call('GET', next);
      assert.equal(reply.status, 200, reply.text());
      const types = reply.json<{ manifests: Array<{ artifactType: string }> }>().manifests.map((entry) => entry.artifactType);
      pages.push({ types });
      next = /^<([^>]+)>; rel="next"$/.exec(reply.headers.link ?? '')?.[1];
    }
    return { pages, types: pages.flatMap((page) => page.types) };
  }

  test('a filter none of the first entries matches answers a short page with a Link; the Link leads to the rest', async () => {
    const { pages, types } = await allPages(`/v2/${REPOSITORY}/referrers/${subject}?artifactType=${encodeURIComponent(RARE)}`);
    assert.deepEqual(
      pages.map((page) => page.types.length),
      [0, RARE_COUNT],
      'the first request looked at its share of entries only',
    );
    assert.deepEqual(types, Array(RARE_COUNT).fill(RARE));
  });

  test('without a filter, pages of MAX_REFERRERS_PER_PAGE chain without gaps', async () => {
    const { pages, types } = await allPages(`/v2/${REPOSITORY}/referrers/${subject}`);
    assert.deepEqual(
      pages.map((page) => page.types.length),
      [MAX_REFERRERS_PER_PAGE, RARE_COUNT],
    );
    assert.equal(types.filter((type) => type === COMMON).length, MAX_REFERRERS_PER_PAGE);
  });
});
