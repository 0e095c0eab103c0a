// npm's `prepare`: runs on `npm ci` / `npm install` in a checkout and on `npm pack`. It compiles
// src/ to dist/src/ when TypeScript is installed; without it (`npm ci --omit=dev`), a dist/ that
// is already here is used as it is, and with neither the install fails saying what to do.
// Plain JavaScript: it runs before anything is compiled.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
let tsc;
try {
  tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');
} catch {
  tsc = undefined;
}

if (tsc !== undefined) {
  const result = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
  process.exit(result.status ?? 1);
} else if (existsSync(join(root, 'dist', 'src', 'cli', 'main.js'))) {
  process.stderr.write('registry-gate: TypeScript is not installed (dev dependencies omitted); using the compiled dist/ that is here.\n');
} else {
  process.stderr.write(
    'registry-gate: cannot build: TypeScript is not installed and there is no dist/.\n' +
      'Install with dev dependencies (npm ci), or build first and prune: npm ci && npm prune --omit=dev\n',
  );
  process.exit(1);
}
