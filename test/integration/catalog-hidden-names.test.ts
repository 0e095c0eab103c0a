/**
 * Catalog page links must not reveal repositories the caller may not see.
 *
 * The attack: `GET /v2/_catalog` lists only what the caller may pull, but one request looks at a
 * bounded number of names (`catalog.scanLimit`). When that bound is hit, the `Link` to the next
 * page carried `last=<the last name looked at>`, which is as often as not a repository hidden from
 * the caller: by paging through a catalog with many hidden repositories, a caller read hidden names
 * out of the links. Now a cursor that would be a hidden name is an opaque token (encrypted and
 * authenticated under a key the gateway keeps), accepted back in `last`; a cursor that is a visible
 * name stays that name, as Distribution's are.
 *
 * On the built-in registry with many hidden repositories and a small scan limit; and in front of
 * Distribution with two worker processes, whose pages may be served by either worker.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { startGate, basic, type TestGate } from '../helpers/gate.js';
import { startDistribution, type RunningDistribution } from '../helpers/distribution.js';
import { startConfiguredGateProcess, type GateProcess } from '../helpers/gate-process.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { RegistryClient, assertError } from '../helpers/registry-client.js';

const PASSWORDS = { admin: 'admin-catalog-1', alice: 'alice-catalog-2' };
const RULES = [
  { repository: '**', actions: ['pull', 'push'], subjects: ['user:admin'] },
  { repository: '*-open/**', actions: ['pull'], subjects: ['user:alice'] },
  // Matches none of the names below, but could match a name under any folder: the built-in registry
  // cannot skip the hidden folders unread, so its pages end inside them (sealed cursors).
  { repository: '**/open-*', actions: ['pull'], subjects: ['user:alice'] },
];
const hidden = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}/r${String(i).padStart(2, '0')}`);
/** In the catalog's lexical order: visible names between runs of hidden ones. */
const VISIBLE = ['a-open/one', 'm-open/two', 'z-open/three'];
const HIDDEN = [...hidden('b-hidden', 12), ...hidden('n-hidden', 12)];
const ALL = [...VISIBLE, ...HIDDEN].sort();

interface Page {
  readonly status: number;
  readonly repositories: string[];
  /** The `last` of the Link, if any. */
  readonly last: string | undefined;
  readonly link: string | undefined;
}

async function catalogPage(baseUrl: string, dispatcher: Agent, auth: string, path: string): Promise<Page> {
  const response = await request(`${baseUrl}${path}`, { dispatcher, headers: { authorization: auth } });
  const text = await response.body.text();
  const link = response.headers.link as string | undefined;
  const target = link === undefined ? undefined : /^<([^>]+)>; rel="next"$/.exec(link)?.[1];
  if (link !== undefined) assert.ok(target, `a well-formed Link: ${link}`);
  return {
    status: response.statusCode,
    repositories: response.statusCode === 200 ? (JSON.parse(text) as { repositories: string[] }).repositories : [],
    last: target === undefined ? undefined : (new URL(target, 'http://x').searchParams.get('last') ?? undefined),
    link: target,
  };
}

/** Follows Links from `first` (at most `maxPages`), checking that none reveals a hidden name. */
async function walkCatalog(
  baseUrl: string,
  dispatcher: () => Agent,
  auth: string,
  first: string,
  maxPages = 40,
): Promise<{ names: string[]; pages: Page[] }> {
  const names: string[] = [];
  const pages: Page[] = [];
  let path: string | undefined = first;
  for (let i = 0; path !== undefined && i < maxPages; i++) {
    const page = await catalogPage(baseUrl, dispatcher(), auth, path);
    assert.equal(page.status, 200, `${path}: ${page.status}`);
    pages.push(page);
    names.push(...page.repositories);
    if (page.link !== undefined) {
      for (const name of HIDDEN) assert.ok(!decodeURIComponent(page.link).includes(name), `the Link ${page.link} names the hidden ${name}`);
      assert.doesNotMatch(decodeURIComponent(page.link), /hidden/, `the Link ${page.link} reveals a hidden name`);
    }
    path = page.link;
  }
  assert.equal(path, undefined, `the catalog ends within ${maxPages} pages`);
  return { names, pages };
}

async function pushRepositories(client: RegistryClient, names: readonly string[]): Promise<void> {
  for (const name of names) await client.pushImage(name, 'latest', { layers: 0 });
}

describe('catalog links over hidden repositories (built-in registry)', () => {
  let dir: string;
  let gate: TestGate;
  const alice = basic('alice', PASSWORDS.alice);

  before(async () => {
    dir = await makeTempDir('rg-catalog-');
    gate = await startGate({ dir, users: PASSWORDS, bcryptCost: 4, config: { access: RULES, catalog: { scanLimit: 5 } } });
    await pushRepositories(
      new RegistryClient(() => ({ baseUrl: gate.url, dispatcher: gate.dispatcher, authHeader: basic('admin', PASSWORDS.admin) })),
      ALL,
    );
  });

  after(async () => {
    await gate.stop();
    if (dir) await removeDir(dir);
  });

  test('paging past many hidden repositories: no link names one, and the pages add up to exactly the visible ones', async () => {
    const { names, pages } = await walkCatalog(gate.url, () => gate.dispatcher, alice, '/v2/_catalog');
    assert.deepEqual(names, VISIBLE);
    // A page looks at up to twice the scan limit (to end on a name it shows); hidden folders cost visits.
    assert.ok(pages.length > 2, `the scan limit cut the catalog into pages (${pages.length})`);
    const tokens = pages.map((page) => page.last).filter((last): last is string => last !== undefined && !VISIBLE.includes(last));
    assert.ok(tokens.length > 0, 'some pages ended on a hidden name and carry an opaque token');
    assert.equal(new Set(tokens).size, tokens.length, 'tokens differ from page to page');
  });

  test('with n=1, pages that end on a visible name link with that name, as Distribution does', async () => {
    const { names, pages } = await walkCatalog(gate.url, () => gate.dispatcher, alice, '/v2/_catalog?n=1');
    assert.deepEqual(names, VISIBLE);
    assert.equal(pages[0]?.last, 'a-open/one');
  });

  test('a caller who sees everything gets plain names in every link', async () => {
    const admin = basic('admin', PASSWORDS.admin);
    const { names, pages } = await walkCatalogAsAdmin(admin);
    assert.deepEqual(names, ALL);
    for (const page of pages) if (page.last !== undefined) assert.ok(ALL.includes(page.last), `a plain name: ${page.last}`);
  });

  async function walkCatalogAsAdmin(admin: string): Promise<{ names: string[]; pages: Page[] }> {
    const names: string[] = [];
    const pages: Page[] = [];
    let path: string | undefined = '/v2/_catalog';
    for (let i = 0; path !== undefined && i < 40; i++) {
      const page = await catalogPage(gate.url, gate.dispatcher, admin, path);
      pages.push(page);
      names.push(...page.repositories);
      path = page.link;
    }
    return { names, pages };
  }

  test('a token altered or made up by the client is refused with an OCI error, not decoded', async () => {
    const first = await catalogPage(gate.url, gate.dispatcher, alice, '/v2/_catalog');
    const token = first.last;
    assert.ok(token !== undefined && !VISIBLE.includes(token), 'the first page ends on a hidden name');
    const flipped = `${token.slice(0, -2)}${token.at(-2) === 'A' ? 'B' : 'A'}${token.slice(-1)}`;
    const client = new RegistryClient(() => ({ baseUrl: gate.url, dispatcher: gate.dispatcher, authHeader: alice }));
    for (const last of [flipped, token.slice(0, 20), `${token}x`]) {
      const reply = await client.call('GET', `/v2/_catalog?${new URLSearchParams({ last })}`);
      assertError(reply, 400, 'UNSUPPORTED');
      assert.doesNotMatch(reply.text(), /hidden/);
    }
  });
});

describe('catalog links over hidden repositories (Distribution, two workers)', () => {
  let dir: string;
  let tls: TlsPair;
  let registry: RunningDistribution;
  let gate: GateProcess;
  const alice = basic('alice', PASSWORDS.alice);

  before(async () => {
    dir = await makeTempDir('rg-catalog-workers-');
    tls = await makeTlsPair(join(dir, 'tls'));
    registry = await startDistribution({ dir: join(dir, 'distribution') });
    await pushRepositories(new RegistryClient(() => ({ baseUrl: registry.url })), ALL);
    gate = await startConfiguredGateProcess({
      dir,
      users: PASSWORDS,
      config: {
        tls: { cert: tls.certFile, key: tls.keyFile },
        upstream: { url: registry.url },
        auth: { htpasswd: 'htpasswd' },
        access: RULES,
        catalog: { scanLimit: 3 },
        workers: 2,
        log: { level: 'warn' },
        audit: { enabled: false },
      },
    });
  });

  after(async () => {
    await gate.stop();
    await registry.stop();
    if (dir) await removeDir(dir);
  });

  test('every page, on a new connection (so on either worker), accepts the token the previous one gave', async () => {
    const agents: Agent[] = [];
    const fresh = () => {
      const agent = new Agent({ connect: { ca: tls.caPem } });
      agents.push(agent);
      return agent;
    };
    try {
      for (let round = 0; round < 3; round++) {
        const { names } = await walkCatalog(gate.url, fresh, alice, '/v2/_catalog');
        assert.deepEqual(names, VISIBLE);
      }
    } finally {
      await Promise.all(agents.map((agent) => agent.close()));
    }
  });
});
