/**
 * `registry-gate`: the command line. Each command lives in its own file and none holds business
 * logic. Only the command being run is loaded, so that `serve`'s supervising process (and every
 * other command) carries no more code than it uses.
 */
import { Command } from 'commander';
import { environmentHelp } from '../config/env.js';
import { reportFailure } from './_failure.js';
import { packageVersion } from './version.js';

const COMMANDS: Record<string, () => Promise<Command>> = {
  serve: async () => (await import('./serve.js')).serveCommand(),
  'check-config': async () => (await import('./check-config.js')).checkConfigCommand(),
  htpasswd: async () => (await import('./htpasswd.js')).htpasswdCommand(),
  access: async () => (await import('./access.js')).accessCommand(),
  gc: async () => (await import('./gc.js')).gcCommand(),
  events: async () => (await import('./events.js')).eventsCommand(),
  cache: async () => (await import('./cache.js')).cacheCommand(),
  token: async () => (await import('./token.js')).tokenCommand(),
  healthcheck: async () => (await import('./healthcheck.js')).healthcheckCommand(),
  'credential-provider': async () => (await import('./credential-provider.js')).credentialProviderCommand(),
  version: async () => (await import('./version.js')).versionCommand(),
};

async function main(argv: string[]): Promise<void> {
  const program = new Command('registry-gate')
    .description('An authenticating gateway for Docker/OCI registries, with a built-in OCI registry')
    .version(packageVersion())
    .addHelpText('after', `\n${environmentHelp()}`);
  const requested = argv[2];
  const names = requested !== undefined && requested in COMMANDS ? [requested] : Object.keys(COMMANDS);
  for (const name of names) program.addCommand(await (COMMANDS[name] as () => Promise<Command>)());
  await program.parseAsync(argv);
}

main(process.argv).catch(reportFailure);
