/** `registry-gate version`: the version in package.json (the one npm installed), and the Node.js running it. */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';

/** package.json sits at the package root, three levels above dist/src/cli/. */
export function packageVersion(): string {
  const text = readFileSync(new URL('../../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

export function versionCommand(): Command {
  return new Command('version').description('print the version of registry-gate and of Node.js').action(() => {
    process.stdout.write(`registry-gate ${packageVersion()} (Node.js ${process.version})\n`);
  });
}
