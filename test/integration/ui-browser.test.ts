/**
 * The web UI in a real browser (Debian's Chromium, driven by playwright-core), against a live
 * registry-gate over verified TLS, with images pushed by skopeo — an image with labels and an
 * entrypoint, an index of two platforms, an SBOM whose subject is the image — on both backends (the
 * built-in registry, and Distribution 2.8 behind the gateway, where the SBOM is found through the
 * OCI referrers tag as that registry has no referrers API).
 *
 * Two users log in and see different repositories; a tag shows its layers, config and referrers,
 * an index its platforms; copy buttons copy the right pull line; a tag is deleted, and a protected
 * one is refused with the reason; an admin creates a robot whose secret is shown once, skopeo uses
 * it, and revoking it stops it; a form without its CSRF token is refused; logout ends the session;
 * anonymous visitors see what anonymous callers may pull. Every page passes axe-core without
 * serious or critical violations, runs under the strict CSP without a violation, works from the
 * keyboard and fits a phone's width. Screenshots go to UI_SCREENSHOT_DIR when set (docs/ui/).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { AccessRuleConfig } from '../../src/config/schema.js';
import { startGate, basic, type TestGate } from '../helpers/gate.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import {
  makeOciArtifact,
  makeOciImage,
  makeOciIndex,
  referrersTagIndex,
  OCI_INDEX,
  OCI_MANIFEST,
  type OciImage,
} from '../helpers/oci-image.js';
import { skopeoCopy, skopeoInspect, dockerRef, type Credentials } from '../helpers/skopeo.js';
import { RegistryClient } from '../helpers/registry-client.js';
import { BACKEND_KINDS, startBackend, waitForAudit, type BackendUnderTest } from '../helpers/access-http.js';
import { axeViolations, launchBrowser, screenshot, seriousViolations } from '../helpers/browser.js';

const PASSWORDS = { alice: 'alice-pw-1', bob: 'bob-pw-2', admin: 'admin-pw-3' } as const;
type User = keyof typeof PASSWORDS;
const GROUPS = { 'team-a': ['alice'], 'team-b': ['bob'], admins: ['admin'] };
const RULES: AccessRuleConfig[] = [
  { repository: 'team-a/**', actions: ['pull', 'push', 'delete'], subjects: ['group:team-a'] },
  { repository: 'team-b/**', actions: ['pull', 'push', 'delete'], subjects: ['group:team-b'] },
  { repository: 'public/**', actions: ['pull'], subjects: ['*'] },
  { repository: 'public/**', actions: ['push'], subjects: ['group:admins'] },
  { repository: 'release/**', actions: ['pull', 'push', 'delete'], subjects: ['group:team-a'], protectedTags: ['v*'] },
  { repository: '**', actions: ['pull'], subjects: ['group:admins'] },
  { repository: 'team-a/**', actions: ['pull'], subjects: ['user:robot$ci'] },
];
const SBOM_TYPE = 'application/spdx+json';

let browser: Browser;
let tlsDir: string;
let tls: TlsPair;
before(async () => {
  // One browser and one server certificate for the file; the browser trusts that key and nothing
  // else. Each user gets a browser context (its own cookies) below.
  tlsDir = await makeTempDir('rg-ui-browser-tls-');
  tls = await makeTlsPair(tlsDir);
  browser = await launchBrowser([tls.certPem]);
});
after(async () => {
  await browser.close();
  if (tlsDir) await removeDir(tlsDir);
});

for (const kind of BACKEND_KINDS) {
  describe(`the web UI in a browser (${kind})`, () => {
    let dir: string;
    let backend: BackendUnderTest;
    let gate: TestGate;
    let auditFile: string;
    let image: OciImage;
    const contexts = new Map<string, BrowserContext>();
    const problems: string[] = [];
    const shots = kind === 'builtin';

    const creds = (user: User): Credentials => ({ user, password: PASSWORDS[user] });
    const push = async (user: User, from: string, repository: string, tag: string, all = false) => {
      const result = await skopeoCopy({
        from,
        to: dockerRef(gate.host, repository, tag),
        dest: { creds: creds(user), certDir: tls.caDir },
        preserveDigests: true,
        all,
      });
      assert.equal(result.code, 0, `${user} pushes ${repository}:${tag}: ${result.stderr}`);
    };
    const headStatus = async (repository: string, reference: string) =>
      (
        await new RegistryClient(() => ({
          baseUrl: gate.url,
          dispatcher: gate.dispatcher,
          authHeader: basic('admin', PASSWORDS.admin),
        })).call('HEAD', `/v2/${repository}/manifests/${reference}`)
      ).status;

    /** A page in `name`'s own browser context (cookies kept per context); CSP violations and script errors are collected. */
    async function pageFor(name: string, options: Parameters<Browser['newContext']>[0] = {}): Promise<Page> {
      let context = contexts.get(name);
      if (!context) {
        context = await browser.newContext({ baseURL: gate.url, ...options });
        contexts.set(name, context);
      }
      const page = await context.newPage();
      page.on('console', (message) => {
        // Pages answered 403/404 on purpose log "Failed to load resource"; anything else (a CSP refusal) counts.
        if (message.type() === 'error' && !message.text().startsWith('Failed to load resource'))
          problems.push(`${name}: ${message.text()}`);
      });
      page.on('pageerror', (error) => problems.push(`${name}: ${error.message}`));
      page.on('dialog', (dialog) => void dialog.accept());
      return page;
    }

    async function logIn(page: Page, user: User): Promise<void> {
      await page.goto('/ui/login');
      await page.getByLabel('User name').fill(user);
      await page.getByLabel('Password').fill(PASSWORDS[user]);
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.waitForURL('**/ui/');
      assert.equal(await page.locator('.who strong').textContent(), user);
    }

    async function repositoryNames(page: Page): Promise<string[]> {
      return page.locator('ul.repositories a').allTextContents();
    }

    async function assertAccessible(page: Page, what: string): Promise<void> {
      assert.deepEqual(seriousViolations(await axeViolations(page)), [], `${what}: axe-core found serious violations`);
    }

    before(async () => {
      dir = await makeTempDir('rg-ui-browser-');
      backend = await startBackend(kind, join(dir, 'distribution'));
      auditFile = join(dir, 'audit.log');
      gate = await startGate({
        dir: join(dir, 'gate'),
        tls,
        users: PASSWORDS,
        bcryptCost: 4,
        config: {
          groups: GROUPS,
          access: RULES,
          ui: { adminGroup: 'admins' },
          audit: { enabled: true, file: auditFile },
          ...backend.gateConfig,
        },
      });

      image = await makeOciImage(join(dir, 'app'), {
        tag: '1',
        layers: [randomBytes(2048), randomBytes(4096)],
        config: { Entrypoint: ['/usr/bin/app'], Cmd: ['--serve'], Labels: { 'org.opencontainers.image.title': 'demo app', team: 'a' } },
      });
      const old = await makeOciImage(join(dir, 'old'), { tag: 'old', layers: [randomBytes(1024)] });
      const index = await makeOciIndex(join(dir, 'multi'), {
        tag: '1.0',
        platforms: [
          { os: 'linux', architecture: 'amd64', layers: [randomBytes(3000)] },
          { os: 'linux', architecture: 'arm64', layers: [randomBytes(3100)] },
        ],
      });
      const sbom = await makeOciArtifact(join(dir, 'sbom'), {
        tag: 'sbom',
        artifactType: SBOM_TYPE,
        blobMediaType: SBOM_TYPE,
        content: JSON.stringify({ spdxVersion: 'SPDX-2.3', name: 'demo app' }),
        subject: { mediaType: OCI_MANIFEST, digest: image.manifestDigest, size: image.manifestSize },
        annotations: { 'org.opencontainers.image.created': '2024-05-01T12:00:00Z' },
      });
      await push('alice', image.ref, 'team-a/app', '1');
      await push('alice', old.ref, 'team-a/app', 'old');
      await push('alice', index.ref, 'team-a/multi', '1.0', true);
      await push('alice', sbom.ref, 'team-a/app', sbom.digest);
      if (kind === 'distribution') {
        // No referrers API there: the OCI fallback tag, pushed as oras maintains it for such registries.
        const fallback = referrersTagIndex(image.manifestDigest, [sbom.descriptor]);
        const alice = new RegistryClient(() => ({
          baseUrl: gate.url,
          dispatcher: gate.dispatcher,
          authHeader: basic('alice', PASSWORDS.alice),
        }));
        await alice.pushManifest('team-a/app', fallback.tag, fallback.bytes, OCI_INDEX);
      }
      await push('alice', old.ref, 'release/app', 'v1');
      await push('bob', old.ref, 'team-b/secret', '1');
      await push('admin', old.ref, 'public/base', 'latest');
    });

    after(async () => {
      for (const context of contexts.values()) await context.close();
      await gate.stop();
      await backend.stop();
      if (dir) await removeDir(dir);
    });

    test('an anonymous visitor is sent from / to /ui/ and sees what anonymous callers may pull', async () => {
      const page = await pageFor('anonymous');
      await page.goto('/');
      assert.match(page.url(), /\/ui\/$/);
      assert.deepEqual(await repositoryNames(page), ['public/base']);
      assert.ok(await page.getByRole('link', { name: 'Log in' }).first().isVisible());
      await assertAccessible(page, 'anonymous repositories');
      await page.goto('/ui/r/team-a/app');
      assert.equal(await page.locator('h1').textContent(), 'Not found');
    });

    test('two users log in and see different repositories; the session cookie is HttpOnly, Secure, SameSite=Strict', async () => {
      const alice = await pageFor('alice');
      await logIn(alice, 'alice');
      assert.deepEqual(await repositoryNames(alice), ['public/base', 'release/app', 'team-a/app', 'team-a/multi']);
      const bob = await pageFor('bob');
      await logIn(bob, 'bob');
      assert.deepEqual(await repositoryNames(bob), ['public/base', 'team-b/secret']);

      const session = (await contexts.get('alice')!.cookies()).find((cookie) => cookie.name === '__Host-rg_session');
      assert.ok(session, 'a session cookie');
      assert.equal(session.httpOnly, true);
      assert.equal(session.secure, true);
      assert.equal(session.sameSite, 'Strict');
      assert.ok(session.expires > Date.now() / 1000 + 3600, 'it expires, in hours');
      assert.deepEqual(await alice.evaluate(() => [localStorage.length, sessionStorage.length]), [0, 0], 'nothing in web storage');
      assert.ok(!(await alice.evaluate(() => document.cookie)).includes('rg_'), 'no UI cookie is readable by script');
      await assertAccessible(alice, 'repositories');
      if (shots) await screenshot(alice, 'repositories', dir);
    });

    test('a tag shows its layers, config and referrers; an index its platforms; copy buttons copy the pull line', async () => {
      const page = await pageFor('alice');
      await page.goto('/ui/');
      await page.getByRole('link', { name: 'team-a/app' }).click();
      await page.waitForURL('**/ui/r/team-a/app');
      const tags = page.locator('table.tags tbody th');
      assert.deepEqual(
        (await tags.allTextContents()).filter((tag) => !tag.startsWith('sha256-')),
        ['1', 'old'],
      );
      const row = page.locator('table.tags tbody tr', { has: page.getByRole('link', { name: '1', exact: true }) });
      assert.match((await row.textContent()) ?? '', /KiB/, 'a size');
      assert.match((await row.textContent()) ?? '', /\d{4}-\d\d-\d\d \d\d:\d\d UTC/, 'a time');
      await assertAccessible(page, 'repository');
      if (shots) await screenshot(page, 'repository', dir);

      await contexts.get('alice')!.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: gate.url });
      await row.getByRole('button', { name: 'Copy docker pull for 1' }).click();
      assert.equal(await page.evaluate(() => navigator.clipboard.readText()), `docker pull ${gate.host}/team-a/app:1`);

      await page.getByRole('link', { name: '1', exact: true }).click();
      await page.waitForURL('**/ui/r/team-a/app/-/manifest/1');
      assert.equal(await page.locator('table.layers tbody tr').count(), 2, 'two layers');
      assert.match((await page.locator('table.layers caption').textContent()) ?? '', /2 layers, [\d.]+ KiB in all/);
      const config = (await page.locator('#config ~ *').allTextContents()).join(' ');
      assert.match(await page.locator('section[aria-labelledby="config"]').innerText(), /\["\/usr\/bin\/app"\]/, `entrypoint: ${config}`);
      assert.match(await page.locator('section[aria-labelledby="config"]').innerText(), /demo app/, 'labels');
      assert.match(await page.locator('section[aria-labelledby="config"]').innerText(), /registry-gate test layer 1/, 'history');
      const referrers = page.locator('section[aria-labelledby="referrers"]');
      assert.match(await referrers.innerText(), new RegExp(SBOM_TYPE.replace(/[.+]/g, '\\$&')), 'the SBOM, by artifact type');
      await assertAccessible(page, 'manifest');
      if (shots) await screenshot(page, 'manifest', dir, { fullPage: true });
      for (const [tool, line] of [
        ['docker', `docker pull ${gate.host}/team-a/app:1`],
        ['podman', `podman pull ${gate.host}/team-a/app:1`],
        ['skopeo', `skopeo copy docker://${gate.host}/team-a/app:1 oci:app:1`],
      ] as const) {
        await page.getByRole('button', { name: `Copy the ${tool} command` }).click();
        assert.equal(await page.evaluate(() => navigator.clipboard.readText()), line);
      }

      await referrers.getByRole('link').first().click();
      await page.waitForURL('**/manifest/sha256:*');
      assert.match(await page.locator('dl.pairs').first().innerText(), new RegExp(`Refers to\\s+${image.manifestDigest.slice(0, 19)}`));

      await page.goto('/ui/r/team-a/multi/-/manifest/1.0');
      const platforms = await page.locator('section[aria-labelledby="platforms"] tbody th').allTextContents();
      assert.deepEqual(platforms, ['linux/amd64', 'linux/arm64']);
      assert.match(await page.locator('section[aria-labelledby="platforms"]').innerText(), /KiB/);
      await page.goto('/ui/r/team-a/multi');
      assert.match(await page.locator('table.tags tbody tr').first().innerText(), /linux\/amd64, linux\/arm64/);
      await assertAccessible(page, 'index');
    });

    test('a tag is deleted where the rules allow it; a protected tag is refused with the reason', async () => {
      const page = await pageFor('alice');
      await page.goto('/ui/r/team-a/app');
      await page.getByRole('button', { name: 'Delete the tag old' }).click();
      await page.waitForLoadState();
      if (kind === 'distribution') {
        // Distribution 2.8 deletes manifests by digest only: the UI says so and leads to the manifest.
        assert.match(await page.locator('main').innerText(), /cannot delete a tag alone/);
        await page.getByRole('link', { name: 'Delete its manifest' }).click();
        await page.getByRole('button', { name: /^Delete the manifest sha256:/ }).click();
      }
      await page.waitForURL('**/ui/r/team-a/app?deleted=*');
      assert.match(await page.locator('.notice.ok').innerText(), /Deleted/);
      assert.ok(!(await page.locator('table.tags tbody th').allTextContents()).includes('old'));
      assert.equal(await headStatus('team-a/app', 'old'), 404, 'the tag is gone');
      assert.equal(await headStatus('team-a/app', '1'), 200, 'the other tag stays');

      await page.goto('/ui/r/release/app');
      await page.getByRole('button', { name: 'Delete the tag v1' }).click();
      await page.waitForLoadState();
      assert.equal(await page.locator('h1').textContent(), 'Not deleted');
      assert.match(await page.locator('.notice.error').innerText(), /The tag v1 is protected; deleting it needs overwrite/);
      assert.equal(await headStatus('release/app', 'v1'), 200, 'the protected tag stays');

      const lines = await waitForAudit(auditFile, (all) => all.some((line) => line.reason === 'protected-tag'));
      assert.ok(
        lines.some(
          (line) =>
            line.source === 'ui' &&
            line.action === 'delete' &&
            line.decision === 'allow' &&
            line.repository === 'team-a/app' &&
            line.user === 'alice' &&
            line.status === 202,
        ),
      );
      assert.ok(
        lines.some(
          (line) =>
            line.source === 'ui' &&
            line.action === 'delete' &&
            line.decision === 'deny' &&
            line.reason === 'protected-tag' &&
            line.tag === 'v1' &&
            line.status === 403,
        ),
      );
    });

    test('an admin creates a robot, sees its secret once, skopeo uses it, and revoking it stops it', async () => {
      const page = await pageFor('admin');
      await logIn(page, 'admin');
      await page.getByRole('link', { name: 'Robot accounts' }).click();
      await assertAccessible(page, 'robots');
      if (shots) await screenshot(page, 'robots', dir);
      await page.getByLabel('Name').fill('ci');
      await page.getByLabel('Scopes, one per line').fill('repository:team-a/*:pull');
      await page.getByLabel('Expires after').selectOption({ label: '7 days' });
      await page.getByRole('button', { name: 'Create' }).click();
      const secret = (await page.locator('#robot-secret').textContent()) ?? '';
      assert.match(secret, /^rgr_[A-Za-z0-9_-]{43}$/);
      assert.ok(!page.url().includes(secret), 'not in the URL');
      assert.deepEqual(await page.evaluate(() => [localStorage.length, sessionStorage.length]), [0, 0]);
      const robot = { user: 'robot$ci', password: secret };
      const inspect = () => skopeoInspect(dockerRef(gate.host, 'team-a/app', '1'), { creds: robot, certDir: tls.caDir, raw: true });
      const allowed = await inspect();
      assert.equal(allowed.code, 0, allowed.stderr);
      await page.goto('/ui/robots');
      assert.equal(await page.locator('#robot-secret').count(), 0, 'shown once: the page does not show it again');

      await page.getByRole('button', { name: 'Revoke robot$ci' }).click();
      await page.waitForURL('**/ui/robots?revoked=*');
      assert.equal(await page.getByRole('button', { name: 'Revoke robot$ci' }).count(), 0);
      const refused = await inspect();
      assert.notEqual(refused.code, 0, 'the revoked robot is refused');
      const lines = await waitForAudit(auditFile, (all) => all.some((line) => line.action === 'robot-revoke'));
      assert.ok(
        lines.some((line) => line.action === 'robot-create' && line.robot === 'robot$ci' && line.source === 'ui' && line.user === 'admin'),
      );
      assert.ok(!JSON.stringify(lines).includes(secret));
    });

    test('a form posted without its CSRF token is refused', async () => {
      const page = await pageFor('alice');
      await page.goto('/ui/r/team-a/app');
      // Same origin, alice's cookies, everything a form would send but the token.
      const forged = await page.evaluate(async () => {
        const response = await fetch('/ui/r/team-a/app/-/delete', { method: 'POST', body: new URLSearchParams({ reference: '1' }) });
        return { status: response.status, text: await response.text() };
      });
      assert.equal(forged.status, 403);
      assert.match(forged.text, /Form expired/);
      const tokenless = await page.evaluate(async () => {
        const form = document.querySelector<HTMLFormElement>('form[action$="/-/delete"]');
        const data = new URLSearchParams(new FormData(form ?? undefined) as unknown as Record<string, string>);
        data.set('csrf', 'A'.repeat(43));
        const response = await fetch('/ui/r/team-a/app/-/delete', { method: 'POST', body: data });
        return response.status;
      });
      assert.equal(tokenless, 403, 'a made-up token');
      assert.equal(await headStatus('team-a/app', '1'), 200, 'nothing was deleted');
    });

    test('keyboard and phone: a skip link first, search by keyboard, no sideways scrolling', async () => {
      const page = await pageFor('bob-phone', { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
      await logIn(page, 'bob');
      await page.keyboard.press('Tab');
      assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to content');
      await page.keyboard.press('Enter');
      assert.equal(await page.evaluate(() => document.activeElement?.id), 'main');
      await page.getByLabel('Search repositories').focus();
      await page.keyboard.type('secret');
      await page.keyboard.press('Enter');
      await page.waitForURL('**/ui/?q=secret');
      assert.deepEqual(await repositoryNames(page), ['team-b/secret']);
      for (const path of ['/ui/', '/ui/r/team-b/secret', '/ui/r/team-b/secret/-/manifest/1']) {
        await page.goto(path);
        assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), `${path} fits 390 px`);
      }
      await assertAccessible(page, 'phone manifest');
      if (shots) await screenshot(page, 'phone', dir, { fullPage: true });
    });

    test('logging out ends the session, and its cookie replayed is worth nothing', async () => {
      const page = await pageFor('alice');
      await page.goto('/ui/');
      const context = contexts.get('alice')!;
      const before = await context.cookies();
      await page.getByRole('button', { name: 'Log out' }).click();
      await page.waitForURL('**/ui/');
      assert.ok(await page.getByRole('link', { name: 'Log in' }).first().isVisible());
      assert.deepEqual(await repositoryNames(page), ['public/base']);
      await context.addCookies(before.filter((cookie) => cookie.name === '__Host-rg_session'));
      await page.goto('/ui/');
      assert.equal(await page.locator('.who').count(), 0, 'still anonymous');
      assert.deepEqual(await repositoryNames(page), ['public/base']);
    });

    test('no page broke the CSP or threw', () => {
      assert.deepEqual(problems, []);
    });
  });
}
