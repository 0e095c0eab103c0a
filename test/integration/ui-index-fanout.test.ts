/**
 * One UI page view cannot be made to read and parse an unbounded amount of content.
 *
 * The attack: whoever may push to a repository anyone may pull pushes an index of 300 entries, each
 * one of 40 image manifests of 400 layers (55 KB each here; 2,000 layers and up to 4 MiB are
 * allowed), and tags it 50 times. The manifest page of that index read and parsed every entry, once
 * per entry (300 reads), and the repository page 16 entries of each of its 50 tags' indexes (850
 * reads): one anonymous GET, with 4 MiB entries, GBs parsed. Now a page reads each manifest once, at most
 * DISPLAY_LIMITS.children entries of an index and DISPLAY_LIMITS.manifests manifests in all
 * (src/lib/work-budget.ts), and says that the rest was not expanded.
 *
 * Asserted on what was read: on the built-in registry, the sizes the page shows (one per manifest
 * it read); in front of Distribution 2.8, the manifest GETs Distribution served during the page
 * view, counted in its own log.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { request } from 'undici';
import { DISPLAY_LIMITS } from '../../src/lib/work-budget.js';
import { basic, startGate, type TestGate } from '../helpers/gate.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, RegistryClient, randomBlob, sha256 } from '../helpers/registry-client.js';
import { BACKEND_KINDS } from '../helpers/access-http.js';
import { startDistribution, type RunningDistribution } from '../helpers/distribution.js';
import { makeTlsPair } from '../helpers/tls.js';
import { UiClient } from '../helpers/ui-client.js';
import { waitFor } from '../helpers/wait.js';

const PASSWORDS = { alice: 'alice-pw-1' };
const RULES = [
  { repository: 'public/**', actions: ['pull'], subjects: ['*'] },
  { repository: 'public/**', actions: ['push'], subjects: ['user:alice'] },
];
const REPOSITORY = 'public/bomb';
const LAYERS = 400;
const DISTINCT_IMAGES = 40;
const ENTRIES = 300;
const TAGS = 50;
const NOT_EXPANDED = 'the rest was not expanded';

/** Pushes the index of ENTRIES entries over DISTINCT_IMAGES large images, tagged TAGS times. */
async function pushFanout(alice: RegistryClient): Promise<void> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux' }));
  const layer = randomBlob(1024);
  const configDescriptor = { mediaType: OCI_CONFIG, digest: await alice.pushBlob(REPOSITORY, config), size: config.length };
  const layerDescriptor = { mediaType: OCI_LAYER, digest: await alice.pushBlob(REPOSITORY, layer), size: layer.length };
  const images: Array<{ mediaType: string; digest: string; size: number }> = [];
  for (let index = 0; index < DISTINCT_IMAGES; index++) {
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: configDescriptor,
        layers: Array.from({ length: LAYERS }, () => layerDescriptor),
        annotations: { 'org.example.image': String(index) },
      }),
    );
    await alice.pushManifest(REPOSITORY, sha256(manifest), manifest, OCI_MANIFEST);
    images.push({ mediaType: OCI_MANIFEST, digest: sha256(manifest), size: manifest.length });
  }
  const platform = { os: 'linux', architecture: 'amd64' };
  const entries = Array.from({ length: ENTRIES }, (_, index) => ({ ...images[index % DISTINCT_IMAGES]!, platform }));
  const index = await alice.pushIndex(REPOSITORY, 'digest', entries);
  const indexBytes = (await alice.call('GET', `/v2/${REPOSITORY}/manifests/${index.digest}`)).body;
  for (let tag = 0; tag < TAGS; tag++)
    await alice.pushManifest(REPOSITORY, `t${String(tag).padStart(2, '0')}`, indexBytes, index.mediaType);
}

/** Digests of the platform rows that show a size: the manifests the page read. */
function digestsWithSize(body: string): Set<string> {
  const rows = body.matchAll(/\/-\/manifest\/(sha256:[a-f0-9]{64})">.*?<\/a><\/td>\s*<td data-label="Size">([^<]*)<\/td>/g);
  return new Set([...rows].filter((row) => row[2] !== '—').map((row) => row[1] as string));
}

for (const kind of BACKEND_KINDS) {
  describe(`a UI page of an index with many large entries (${kind})`, () => {
    let dir: string;
    let distribution: RunningDistribution | undefined;
    let gate: TestGate;
    let markers = 0;

    before(async () => {
      dir = await makeTempDir('rg-ui-fanout-');
      const tls = await makeTlsPair(join(dir, 'tls'));
      // `info`: Distribution logs every request it answers, which is what is counted here.
      if (kind === 'distribution') distribution = await startDistribution({ dir: join(dir, 'distribution'), logLevel: 'info' });
      const upstream = distribution ? { upstream: { url: distribution.url } } : {};
      gate = await startGate({ dir: join(dir, 'gate'), tls, users: PASSWORDS, bcryptCost: 4, config: { access: RULES, ...upstream } });
      const alice = new RegistryClient(() => ({
        baseUrl: gate.url,
        dispatcher: gate.dispatcher,
        authHeader: basic('alice', PASSWORDS.alice),
      }));
      await pushFanout(alice);
    });

    after(async () => {
      await gate.stop();
      await distribution?.stop();
      if (dir) await removeDir(dir);
    });

    /** The manifest GETs of REPOSITORY that Distribution served while `view` ran (undefined on the built-in registry). */
    async function upstreamManifestReads(view: () => Promise<void>): Promise<number | undefined> {
      if (!distribution) {
        await view();
        return undefined;
      }
      const from = distribution.output().length;
      await view();
      // Distribution logs in the order it answers: once a request sent after the page shows up, every read of the page has.
      const marker = `/v2/marker/manifests/m${++markers}`;
      await (await request(`${distribution.url}${marker}`)).body.dump();
      const running = distribution;
      const log = await waitFor("the marker request in Distribution's log", () => {
        const text = running.output().slice(from);
        return text.includes(`http.request.uri=${marker} `) && text;
      });
      // A URI with a `:` (a digest) is quoted in Distribution's log, one without is not.
      const reads = new RegExp(
        `http\\.request\\.method=GET http\\.request\\.remoteaddr=\\S+ http\\.request\\.uri="?/v2/${REPOSITORY}/manifests/`,
        'g',
      );
      return [...log.matchAll(reads)].length;
    }

    test('the manifest page reads each entry once, at most DISPLAY_LIMITS.children of them, and says the rest was not expanded', async () => {
      let body = '';
      const reads = await upstreamManifestReads(async () => {
        const page = await new UiClient(gate.url, gate.dispatcher).get(`/ui/r/${REPOSITORY}/-/manifest/t00`);
        assert.equal(page.status, 200);
        body = page.body;
      });
      assert.ok(body.includes(NOT_EXPANDED), 'the page says it did not read everything');
      const read = digestsWithSize(body);
      assert.ok(read.size > 0 && read.size <= DISPLAY_LIMITS.children, `sizes shown for ${read.size} distinct manifests`);
      // The index, each entry read once, and the referrers (the API, then the referrers tag).
      if (reads !== undefined)
        assert.ok(reads <= 1 + DISPLAY_LIMITS.children + 2, `Distribution served ${reads} manifest reads for one page`);
    });

    test('the repository page of 50 tags of it stays within DISPLAY_LIMITS.manifests, and says so', async () => {
      let body = '';
      const reads = await upstreamManifestReads(async () => {
        const page = await new UiClient(gate.url, gate.dispatcher).get(`/ui/r/${REPOSITORY}`);
        assert.equal(page.status, 200);
        body = page.body;
      });
      assert.ok(body.includes(NOT_EXPANDED), 'the page says it did not read everything');
      assert.equal([...body.matchAll(/<th scope="row"><a href="[^"]*\/-\/manifest\/t\d\d">/g)].length, TAGS, 'every tag has its row');
      if (reads !== undefined) assert.ok(reads <= DISPLAY_LIMITS.manifests, `Distribution served ${reads} manifest reads for one page`);
    });
  });
}
