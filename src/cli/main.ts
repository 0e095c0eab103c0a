/** `registry-gate`: the command line. Each command lives in its own file; none holds business logic. */
import { Command } from 'commander';
import { serveCommand } from './serve.js';
import { checkConfigCommand } from './check-config.js';
import { htpasswdCommand } from './htpasswd.js';
import { gcCommand } from './gc.js';
import { tokenCommand } from './token.js';
import { accessCommand } from './access.js';

const program = new Command('registry-gate')
  .description('An authenticating gateway for Docker/OCI registries, with a built-in OCI registry')
  .version('0.1.0')
  .addCommand(serveCommand())
  .addCommand(checkConfigCommand())
  .addCommand(htpasswdCommand())
  .addCommand(accessCommand())
  .addCommand(gcCommand())
  .addCommand(tokenCommand());

program.parseAsync(process.argv).catch((error: unknown) => {
  process.stderr.write(`registry-gate: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
