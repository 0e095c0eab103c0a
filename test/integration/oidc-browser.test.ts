/**
 * The whole OpenID Connect story in a real browser (Debian's Chromium through playwright-core),
 * over verified TLS on both sides (the browser trusts the gateway's and the provider's keys):
 * "Sign in with Test IdP" on the login page, the provider's login form, back at the gateway signed
 * in; the access tokens page; a token made, its secret copied with the copy button and working as
 * the password of a registry client; signing out, which ends the session here and, through the
 * provider's own logout page, there too. Every gateway page runs under its strict CSP without a
 * violation and passes axe-core without serious or critical violations.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startGate, basic, type TestGate } from '../helpers/gate.js';
import { makeTlsPair, type TlsPair } from '../helpers/tls.js';
import { makeTempDir, removeDir } from '../helpers/process.js';
import { RegistryClient } from '../helpers/registry-client.js';
import { axeViolations, launchBrowser, screenshot, seriousViolations } from '../helpers/browser.js';
import { startTestOp, type TestOp } from '../helpers/oidc-provider.js';

const ALICE = { password: 'alice-browser-idp-pw', groups: ['team-a'] };

describe('OpenID Connect sign-in and access tokens in a browser', () => {
  let dir: string;
  let tls: TlsPair;
  let op: TestOp;
  let gate: TestGate;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const problems: string[] = [];

  const accessible = async (what: string) =>
    assert.deepEqual(seriousViolations(await axeViolations(page)), [], `${what}: axe-core found serious violations`);

  before(async () => {
    dir = await makeTempDir('rg-oidc-browser-');
    tls = await makeTlsPair(join(dir, 'gate-tls'));
    op = await startTestOp(dir, { alice: ALICE });
    gate = await startGate({
      dir,
      tls,
      config: {
        auth: {
          oidc: {
            issuer: op.issuer,
            clientId: op.clientId,
            clientSecretFile: op.clientSecretFile,
            ca: op.tls.caFile,
            scopes: ['openid', 'profile', 'groups', 'offline_access'],
            name: 'Test IdP',
          },
        },
        access: [{ repository: 'team-a/**', actions: ['pull', 'push'], subjects: ['group:team-a'] }],
      },
    });
    op.registerClient(gate.url);
    browser = await launchBrowser([tls.certPem, op.tls.certPem]);
    context = await browser.newContext({ baseURL: gate.url });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: gate.url });
    page = await context.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) problems.push(message.text());
    });
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('dialog', (dialog) => void dialog.accept());
  });
  after(async () => {
    await context.close();
    await browser.close();
    await gate.stop();
    await op.stop();
    await removeDir(dir);
  });

  test('sign in through the provider', async () => {
    await page.goto('/ui/login');
    await accessible('login page');
    await page.getByRole('link', { name: 'Sign in with Test IdP' }).click();
    await page.waitForURL(`${op.issuer}/interaction/**`);
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(ALICE.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${gate.url}/ui/`);
    assert.equal(await page.locator('.who strong').textContent(), 'alice');
  });

  test('make a token, copy it, and use it as the password', async () => {
    await page.getByRole('link', { name: 'Access tokens' }).click();
    await page.waitForURL('**/ui/tokens');
    await accessible('access tokens page');
    await page.getByLabel('Name').fill('laptop');
    await page.getByLabel('Repositories, one pattern per line').fill('team-a/**');
    await page.getByLabel('push').check();
    await page.getByLabel('Expires after').selectOption('7d');
    await page.getByRole('button', { name: 'Create' }).click();
    const secret = (await page.locator('#token-secret').textContent()) ?? '';
    assert.match(secret, /^rgpat_[0-9A-Za-z]{38}$/);
    await accessible('the page showing a new token');
    await screenshot(page, 'ui-access-token-created', dir, { fullPage: true });
    await page.getByRole('button', { name: 'Copy the token laptop' }).click();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret);
    const client = new RegistryClient(() => ({ baseUrl: gate.url, dispatcher: gate.dispatcher, authHeader: basic('alice', secret) }));
    await client.pushImage('team-a/app', 'latest');
    await page.goto('/ui/tokens');
    assert.equal(await page.locator('#token-secret').count(), 0, 'the secret is shown once');
    const row = page.getByRole('row', { name: /laptop/ });
    assert.match((await row.getByRole('cell').nth(3).textContent()) ?? '', /from 127\.0\.0\.1/, 'its last use is listed');
  });

  test('sign out here and at the provider', async () => {
    await page.goto('/ui/');
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL(`${op.issuer}/session/end**`);
    await page.getByRole('button', { name: /sign me out/i }).click();
    await page.waitForURL(`${gate.url}/ui/`);
    assert.equal(
      await page.getByRole('navigation', { name: 'Account' }).getByRole('link', { name: 'Log in' }).count(),
      1,
      'signed out at the gateway',
    );
    // Signed out at the provider too: signing in again asks for the password.
    await page.goto('/ui/oidc/login');
    await page.waitForURL(`${op.issuer}/interaction/**`);
    assert.equal(await page.getByLabel('Password').count(), 1);
    assert.deepEqual(problems, [], 'no CSP violation or script error');
  });
});
