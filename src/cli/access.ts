/** `registry-gate access explain`: the server's own access decision, printed with the rules that matched. */
import { Command, Option } from 'commander';
import { loadConfig } from '../config/load.js';
import { AccessPolicy } from '../access/policy.js';
import { ACTIONS, type Action } from '../config/schema.js';
import { ANONYMOUS, type Identity } from '../auth/identity.js';
import { GroupFile } from '../auth/group-file.js';
import { configGroups, withGroups } from '../auth/groups.js';
import { silentLoggers } from '../log.js';
import { isValidRepositoryName } from '../gateway/route.js';

interface ExplainFlags {
  config?: string;
  user?: string;
  group: string[];
  anonymous?: boolean;
  repository: string;
  action: Action;
}

export function accessCommand(): Command {
  const explain = new Command('explain')
    .description('print allow/deny for a user, repository and action, and the rules that matched')
    .option('-c, --config <file>', 'YAML configuration file')
    .option('--user <name>', 'the user asking')
    .option('--group <name>', 'a group of the user (repeatable; config groups and auth.groupFile are added)', (value: string, previous: string[]) => [...previous, value], [])
    .option('--anonymous', 'ask as an anonymous caller')
    .requiredOption('--repository <name>', 'repository name, e.g. team-a/app')
    .addOption(new Option('--action <action>', 'pull, push or delete').choices([...ACTIONS]).makeOptionMandatory())
    .action(async (flags: ExplainFlags) => {
      if ((flags.user === undefined) === (flags.anonymous !== true)) throw new Error('give exactly one of --user NAME or --anonymous');
      if (!isValidRepositoryName(flags.repository)) throw new Error(`not a valid repository name: ${flags.repository}`);
      const config = await loadConfig({ file: flags.config });
      // The same group sources as the server: --group as the provider's, then config groups and the group file.
      const groupFile = config.auth.groupFile ? await GroupFile.open({ file: config.auth.groupFile, logger: silentLoggers().app, watch: false }) : undefined;
      const identity: Identity =
        flags.user === undefined
          ? ANONYMOUS
          : withGroups({ user: flags.user, via: 'htpasswd', groups: flags.group }, [configGroups(config.groups), ...(groupFile ? [(user: string) => groupFile.groupsOf(user)] : [])]);
      await groupFile?.close();
      const explanation = new AccessPolicy(config.access).explain(identity, flags.repository, flags.action);
      const who = identity.user === null ? 'anonymous' : `user ${identity.user}${identity.groups.length ? ` (groups: ${identity.groups.join(', ')})` : ''}`;
      process.stdout.write(`${explanation.allowed ? 'ALLOW' : 'DENY'}: ${who} ${flags.action} ${flags.repository}\n`);
      if (explanation.matched.length === 0) process.stdout.write('no rule matched this caller and repository\n');
      for (const rule of explanation.matched) {
        process.stdout.write(
          `  rule ${rule.index}: repository ${rule.repository} subjects [${rule.subjects.join(', ')}] actions [${rule.actions.join(', ')}] ${rule.grants ? `grants ${flags.action}` : `does not grant ${flags.action}`}\n`,
        );
      }
      if (!explanation.allowed) process.exitCode = 2;
    });
  return new Command('access').description('inspect access rules').addCommand(explain);
}
