/**
 * The import rules of ARCHITECTURE.md are enforced by `npm run check:imports` (dependency-cruiser
 * with .dependency-cruiser.cjs, run by scripts/test.sh before the tests). Here the same command,
 * with the same config, runs over small trees written for the purpose: each wrong import must
 * fail the check and name its rule, and the allowed ones must pass, so a rule that matches
 * nothing (a typo in a path) cannot go unnoticed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTempDir, removeDir, runProcess } from '../helpers/process.js';

const REPO = fileURLToPath(new URL('../../..', import.meta.url));
const DEPCRUISE = join(REPO, 'node_modules', '.bin', 'depcruise');
const CONFIG = join(REPO, '.dependency-cruiser.cjs');

interface Violation {
  readonly rule: string;
  readonly from: string;
  readonly to: string;
}

let dir: string;
let cases = 0;

before(async () => {
  dir = await makeTempDir('registry-gate-imports-');
});

after(async () => {
  if (dir) await removeDir(dir);
});

/** Writes `files` (path under src/ → source) as a project of its own and runs the check over it. */
async function check(files: Record<string, string>): Promise<{ code: number | null; violations: Violation[] }> {
  const root = join(dir, `case-${++cases}`);
  for (const [path, source] of Object.entries(files)) {
    await mkdir(dirname(join(root, 'src', path)), { recursive: true });
    await writeFile(join(root, 'src', path), source);
  }
  await writeFile(
    join(root, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true }, include: ['src'] }),
  );
  // As `npm run check:imports` runs it, for the exit status (the JSON reporter always exits 0); and, at the
  // same time, for the violations as JSON.
  const run = (...extra: string[]) => runProcess(DEPCRUISE, ['src', '--config', CONFIG, ...extra], { cwd: root, timeoutMs: 60_000 });
  const [plain, json] = await Promise.all([run(), run('--output-type', 'json')]);
  const report = JSON.parse(json.stdout) as {
    summary: { violations: Array<{ rule: { name: string }; from: string; to: string }> };
  };
  return { code: plain.code, violations: report.summary.violations.map((v) => ({ rule: v.rule.name, from: v.from, to: v.to })) };
}

describe('npm run check:imports', () => {
  test('imports the table allows pass', async () => {
    const result = await check({
      'oci/errors.ts': 'export const E = 1;\n',
      'log.ts': 'export const L = 1;\n',
      'config/schema.ts': "import { E } from '../oci/errors.js';\nimport { L } from '../log.js';\nexport const C = E + L;\n",
      'auth/identity.ts':
        "import { C } from '../config/schema.js';\nexport interface Identity { user: string | null }\nexport const A = C;\n",
      'access/decide.ts': "import type { Identity } from '../auth/identity.js';\nexport const allow = (i: Identity) => i.user !== null;\n",
      'lib/section-lock.ts': "import { E } from '../oci/errors.js';\nexport const K = E;\n",
      'backend/backend.ts': "import { E } from '../oci/errors.js';\nimport { K } from '../lib/section-lock.js';\nexport const B = E + K;\n",
      'access/catalog.ts':
        'export interface RepositoryLister { list(): string[] }\nexport const walk = (lister: RepositoryLister) => lister.list();\n',
      'access/audit-records.ts': "import type { Identity } from '../auth/identity.js';\nexport const record = (i: Identity) => i.user;\n",
      'gateway/pipeline.ts':
        "import { B } from '../backend/backend.js';\nimport { allow } from '../access/decide.js';\nimport { A } from '../auth/identity.js';\nimport { walk } from '../access/catalog.js';\nexport const P = [B, allow, A, walk];\n",
      'ui/browse.ts':
        "import { walk } from '../access/catalog.js';\nimport { record } from '../access/audit-records.js';\nimport { B } from '../backend/backend.js';\nexport const U = [walk, record, B];\n",
      'cli/main.ts': "import { P } from '../gateway/pipeline.js';\nexport const M = P;\n",
    });
    assert.deepEqual(result.violations, []);
    assert.equal(result.code, 0);
  });

  test('each import across a boundary fails the check, naming its rule', async () => {
    const result = await check({
      'oci/errors.ts': "import { P } from '../gateway/pipeline.js';\nexport const E = P;\n",
      'gateway/pipeline.ts': 'export const P = 1;\n',
      'backend/backend.ts': "import { P } from '../gateway/pipeline.js';\nexport const B = P;\n",
      'auth/identity.ts': "import { allow } from '../access/decide.js';\nexport const A = allow;\n",
      'access/decide.ts': "import { I } from '../auth/other.js';\nexport const allow = I;\n",
      'auth/other.ts': 'export const I = 1;\n',
      'ui/page.ts': "import { P } from '../gateway/pipeline.js';\nexport const U = P;\n",
      // The two files the UI once took from gateway/ are not an exception any more: they live in access/.
      'ui/browse.ts':
        "import { W } from '../gateway/catalog.js';\nimport { R } from '../gateway/audit-events.js';\nexport const U = [W, R];\n",
      'gateway/catalog.ts': 'export const W = 1;\n',
      'gateway/audit-events.ts': 'export const R = 1;\n',
      'server/listen.ts': "import { B } from '../backend/backend.js';\nexport const S = B;\n",
      // The locks' interface is a leaf: a backend takes nothing of the listener.
      'server/cluster-lock.ts': 'export const L = 1;\n',
      'backend/upload-store.ts': "import { L } from '../server/cluster-lock.js';\nexport const U = L;\n",
      // access/ takes a backend as an interface of its own, not backend/'s.
      'access/catalog.ts': "import type { Backend } from '../backend/backend.js';\nexport const walk = (b: Backend) => b;\n",
      'config/schema.ts': "import { I } from '../auth/other.js';\nexport const C = I;\n",
    });
    assert.notEqual(result.code, 0);
    const found = result.violations.map((v) => `${v.rule}: ${v.from} → ${v.to}`).sort();
    assert.deepEqual(found, [
      'access-imports-auth-types-only: src/access/decide.ts → src/auth/other.ts',
      'access-imports-only-oci-lib-log-config-redis-auth: src/access/catalog.ts → src/backend/backend.ts',
      'auth-imports-only-oci-lib-log-config-redis: src/auth/identity.ts → src/access/decide.ts',
      'backend-imports-only-oci-lib-log-config: src/backend/backend.ts → src/gateway/pipeline.ts',
      'backend-imports-only-oci-lib-log-config: src/backend/upload-store.ts → src/server/cluster-lock.ts',
      'config-imports-only-oci-lib-log: src/config/schema.ts → src/auth/other.ts',
      'oci-imports-only-itself: src/oci/errors.ts → src/gateway/pipeline.ts',
      'server-imports-only-oci-lib-log-config-redis-metrics: src/server/listen.ts → src/backend/backend.ts',
      'ui-is-a-sibling-of-gateway: src/ui/browse.ts → src/gateway/audit-events.ts',
      'ui-is-a-sibling-of-gateway: src/ui/browse.ts → src/gateway/catalog.ts',
      'ui-is-a-sibling-of-gateway: src/ui/page.ts → src/gateway/pipeline.ts',
    ]);
  });

  test('a `_` file is imported from its own folder only, not from a sibling, a parent or a subfolder', async () => {
    const result = await check({
      'backend/upstream/_content.ts': 'export const C = 1;\n',
      'backend/upstream/index.ts': "import { C } from './_content.js';\nexport const U = C;\n",
      'backend/upstream/deep/reader.ts': "import { C } from '../_content.js';\nexport const D = C;\n",
      'backend/backend.ts': "import { C } from './upstream/_content.js';\nexport const B = C;\n",
      'backend/filesystem/index.ts': "import { C } from '../upstream/_content.js';\nexport const F = C;\n",
      'auth/ldap/_connection.ts': 'export const L = 1;\n',
      'auth/ldap/provider.ts': "import { L } from './_connection.js';\nexport const P = L;\n",
      'auth/assemble.ts': "import { L } from './ldap/_connection.js';\nexport const A = L;\n",
    });
    assert.notEqual(result.code, 0);
    const found = result.violations.map((v) => `${v.rule}: ${v.from} → ${v.to}`).sort();
    assert.deepEqual(found, [
      'underscore-files-are-folder-private: src/auth/assemble.ts → src/auth/ldap/_connection.ts',
      'underscore-files-are-folder-private: src/backend/backend.ts → src/backend/upstream/_content.ts',
      'underscore-files-are-folder-private: src/backend/filesystem/index.ts → src/backend/upstream/_content.ts',
      'underscore-files-are-folder-private: src/backend/upstream/deep/reader.ts → src/backend/upstream/_content.ts',
    ]);
  });

  test('a cycle fails the check, type-only imports included', async () => {
    const result = await check({
      'auth/identity.ts': "import type { Token } from './token.js';\nexport interface Identity { token?: Token }\n",
      'auth/token.ts': "import type { Identity } from './identity.js';\nexport interface Token { of: Identity }\n",
    });
    assert.notEqual(result.code, 0);
    assert.ok(
      result.violations.some((v) => v.rule === 'no-circular'),
      JSON.stringify(result.violations),
    );
  });
});
