/**
 * `registry-gate check-config FILE`: validates a config file without starting anything: the schema
 * (each bad key named), then what serve would trip over (unreadable files, undefined groups) and
 * notes on what the settings mean for clients. Exit 1 on any error; warnings and notes exit 0.
 */
import { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import { preflight } from '../assembly/preflight.js';
import { CliFailure, COMMAND_FAILURE, guard } from './_failure.js';

export function checkConfigCommand(): Command {
  return new Command('check-config')
    .description('validate a configuration file; exits non-zero naming each bad key and why')
    .argument('<file>', 'the YAML configuration file')
    .action(
      guard(COMMAND_FAILURE, async (file: string) => {
        let config;
        try {
          config = await loadConfig({ file, env: {} });
        } catch (error) {
          // The config's own errors name the file and key; they are printed as they are.
          throw new CliFailure(error instanceof Error ? error.message : String(error), COMMAND_FAILURE.exitCode);
        }
        const findings = await preflight(config);
        for (const finding of findings) {
          const line = `${file}: ${finding.key}: ${finding.level}: ${finding.message}\n`;
          if (finding.level === 'note') process.stdout.write(line);
          else process.stderr.write(line);
        }
        if (findings.some((finding) => finding.level === 'error')) {
          process.exitCode = 1;
          return;
        }
        process.stdout.write(
          `${file}: ok (${config.upstream ? `upstream ${config.upstream.url}` : `built-in registry at ${config.storage.root}`})\n`,
        );
      }),
    );
}
