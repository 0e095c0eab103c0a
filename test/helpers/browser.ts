/**
 * A real browser for the UI tests: Debian's Chromium driven by playwright-core (which downloads
 * nothing). TLS is verified: the browser trusts exactly the test server's key (its SPKI hash), not
 * any certificate. axe-core is evaluated in the page through the DevTools protocol, so the page's
 * strict CSP stays on while it runs.
 */
import { createHash, createPublicKey } from 'node:crypto';
import { readFile, mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';

/** The base64 SHA-256 of a certificate's public key, as Chromium's --ignore-certificate-errors-spki-list takes it. */
export function spkiHash(certPem: string): string {
  const der = createPublicKey(certPem).export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('base64');
}

export async function launchBrowser(trustedCertPems: readonly string[]): Promise<Browser> {
  const args = [
    '--no-sandbox',
    '--disable-dev-shm-usage',
    '--disable-gpu',
    `--ignore-certificate-errors-spki-list=${trustedCertPems.map(spkiHash).join(',')}`,
  ];
  return chromium.launch({ executablePath: CHROMIUM, args, timeout: 30_000 });
}

let axeSource: string | undefined;

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: Array<{ target: unknown; failureSummary?: string }>;
}

/** Runs axe-core (WCAG 2 A/AA and best practices) on the page; the violations found. */
export async function axeViolations(page: Page): Promise<AxeViolation[]> {
  axeSource ??= await readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  await page.evaluate(axeSource);
  return page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(context: unknown, options: unknown): Promise<{ violations: AxeViolation[] }> } })
      .axe;
    const result = await axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
    });
    return result.violations.map((violation) => ({
      id: violation.id,
      impact: violation.impact,
      help: violation.help,
      nodes: violation.nodes.map((node) => ({ target: node.target, failureSummary: node.failureSummary })),
    }));
  });
}

/** Serious and critical violations, as text for an assertion message. */
export function seriousViolations(violations: AxeViolation[]): string[] {
  return violations
    .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .map(
      (violation) =>
        `${violation.id} (${violation.impact}): ${violation.help} at ${JSON.stringify(violation.nodes.map((node) => node.target))}`,
    );
}

/**
 * Saves a screenshot: into UI_SCREENSHOT_DIR when set (how docs/ui/ is refreshed), else into
 * `fallbackDir` (the test's temp dir), so that taking it is always exercised.
 */
export async function screenshot(page: Page, name: string, fallbackDir: string, options: { fullPage?: boolean } = {}): Promise<string> {
  const dir = process.env.UI_SCREENSHOT_DIR ?? fallbackDir;
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${name}.png`);
  await page.screenshot({ path, fullPage: options.fullPage ?? false });
  return path;
}
