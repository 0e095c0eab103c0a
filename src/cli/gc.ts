/** `registry-gate gc [--config FILE] [--dry-run]`: garbage collection of the built-in registry's storage. */
import { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import { runGc } from '../backend/filesystem/index.js';
import { commandFailure, COMMAND_FAILURE, guard } from './_failure.js';

interface GcFlags {
  config?: string;
  dryRun?: boolean;
  keepUntagged?: boolean;
}

export function gcCommand(): Command {
  return new Command('gc')
    .description(
      'remove blobs no manifest references and manifests no tag or referrer reaches from the built-in ' +
        "registry's storage; safe while the server runs (content used within the last hour is kept)",
    )
    .option('-c, --config <file>', 'the YAML configuration file (its storage.root is collected)')
    .option('-n, --dry-run', 'only report what would be removed')
    .option('--keep-untagged', 'keep manifests that no tag reaches (only remove unreferenced blobs)')
    .action(
      guard(COMMAND_FAILURE, async (flags: GcFlags) => {
        const config = await loadConfig({ file: flags.config });
        if (config.upstream) {
          throw commandFailure('gc works on the built-in registry; this configuration forwards to an upstream registry');
        }
        const dryRun = flags.dryRun === true;
        const report = await runGc({ root: config.storage.root, dryRun, removeUntagged: flags.keepUntagged !== true });
        const verb = dryRun ? 'would remove' : 'removed';
        for (const manifest of report.removedManifests) process.stdout.write(`${verb} manifest ${manifest}\n`);
        for (const blob of report.removedBlobs) process.stdout.write(`${verb} blob ${blob}\n`);
        process.stdout.write(
          `${config.storage.root}: ${verb} ${report.removedManifests.length} manifest(s) and ${report.removedBlobs.length} blob(s), ` +
            `${report.bytesFreed} bytes${dryRun ? ' (dry run: nothing was removed)' : ' freed'}\n`,
        );
        process.stdout.write(
          `content pushed or used within the last hour is kept on purpose (a push in progress may still need it)` +
            `${report.keptYoungBlobs > 0 ? `: ${report.keptYoungBlobs} unreferenced blob(s) kept for now` : ''}; a later gc removes what is still unreferenced\n`,
        );
      }),
    );
}
