/** `registry-gate check-config FILE`: validates a config file without starting anything. */
import { Command } from 'commander';
import { loadConfig } from '../config/load.js';

export function checkConfigCommand(): Command {
  return new Command('check-config')
    .description('validate a configuration file; exits non-zero naming each bad key and why')
    .argument('<file>', 'the YAML configuration file')
    .action(async (file: string) => {
      try {
        const config = await loadConfig({ file, env: {} });
        process.stdout.write(`${file}: ok (${config.upstream ? `upstream ${config.upstream.url}` : `built-in registry at ${config.storage.root}`})\n`);
      } catch (error) {
        process.stderr.write(`${(error as Error).message}\n`);
        process.exitCode = 1;
      }
    });
}
