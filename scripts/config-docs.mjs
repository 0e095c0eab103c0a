// `npm run docs:config`: writes docs/config.md from the config schema (the script builds first).
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { stdout } from 'node:process';
import { fileURLToPath } from 'node:url';
import { CONFIG_DOCS_FILE, renderConfigDocs } from '../dist/src/config/docs.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
await writeFile(join(root, CONFIG_DOCS_FILE), renderConfigDocs());
stdout.write(`wrote ${CONFIG_DOCS_FILE}\n`);
