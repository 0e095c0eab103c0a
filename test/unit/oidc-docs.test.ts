/**
 * docs/oidc.md's config example is a config registry-gate accepts, and every key it uses is in
 * docs/config.md: a copied example that fails at start-up would be the first thing a reader meets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { configSchema } from '../../src/config/schema.js';

const ROOT = new URL('../../../', import.meta.url);

test('the config example of docs/oidc.md validates, and names the settings it explains', async () => {
  const text = await readFile(new URL('docs/oidc.md', ROOT), 'utf8');
  const blocks = [...text.matchAll(/^```yaml\n([\s\S]*?)^```$/gm)].map((match) => parse(match[1] as string) as unknown);
  assert.equal(blocks.length, 1);
  const parsed = configSchema.safeParse(blocks[0]);
  assert.ok(parsed.success, parsed.error?.message);
  const config = await readFile(new URL('docs/config.md', ROOT), 'utf8');
  for (const key of ['auth.oidc.issuer', 'auth.oidc.recheckInterval', 'auth.oidc.stateDir', 'auth.tokens.maxLifetime', 'auth.tokens.store'])
    assert.match(config, new RegExp(`\`${key.replace(/\./g, '\\.')}\``), `${key} is documented`);
  for (const path of ['/ui/oidc/callback', 'rgpat_', 'token personal list', 'offline_access']) assert.ok(text.includes(path), path);
});
