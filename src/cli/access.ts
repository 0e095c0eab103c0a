/**
 * `registry-gate access explain`: the server's own access decision, printed with the rules that
 * matched. With `--tag`, the decision for a push or delete naming that tag, protected tags included;
 * `--action overwrite` asks about a push that moves a tag (any tag, without `--tag`) to another manifest.
 */
import { Command, Option } from 'commander';
import { loadConfig } from '../config/load.js';
import { AccessPolicy, protectedTagRefusal, type Explanation, type ExplainedRequest, type RuleMatch } from '../access/policy.js';
import { ACTIONS, type Action } from '../oci/actions.js';
import { ANONYMOUS, type Identity } from '../auth/identity.js';
import { GroupFile } from '../auth/group-file.js';
import { configGroups, withGroups } from '../auth/groups.js';
import { silentLoggers } from '../log.js';
import { isTag, isValidRepositoryName } from '../oci/names.js';
import { commandFailure, COMMAND_FAILURE, guard } from './_failure.js';

interface ExplainFlags {
  config?: string;
  user?: string;
  group: string[];
  anonymous?: boolean;
  repository: string;
  tag?: string;
  action: ExplainedRequest;
}

/** What the request explained is, in words. */
function describeRequest(action: ExplainedRequest, repository: string, tag: string | undefined): string {
  const what = tag === undefined ? repository : `${repository}:${tag}`;
  if (action === 'overwrite')
    return `overwrite ${what} (a push that moves ${tag === undefined ? 'an existing tag' : 'the existing tag'} to another manifest)`;
  if (action === 'push' && tag !== undefined) return `push ${what} (a push that creates the tag, or pushes the same manifest again)`;
  return `${action} ${what}`;
}

function describeRule(rule: RuleMatch, action: ExplainedRequest, tag: string | undefined): string {
  const protects = rule.protectedTags.length > 0 ? ` protectedTags [${rule.protectedTags.join(', ')}]` : '';
  const held = `does not grant ${action}: ${tag === undefined ? 'it protects tags' : `${tag} is protected`} and it lacks overwrite`;
  const verdict = rule.grants ? `grants ${action}` : rule.heldByProtectedTag ? held : `does not grant ${action}`;
  return `  rule ${rule.index}: repository ${rule.repository} subjects [${rule.subjects.join(', ')}] actions [${rule.actions.join(', ')}]${protects} ${verdict}\n`;
}

export function accessCommand(): Command {
  const explain = new Command('explain')
    .description('print allow/deny for a user, repository and action, and the rules that matched')
    .option('-c, --config <file>', 'YAML configuration file')
    .option('--user <name>', 'the user asking')
    .option(
      '--group <name>',
      'a group of the user (repeatable; config groups and auth.groupFile are added)',
      (value: string, previous: string[]) => [...previous, value],
      [],
    )
    .option('--anonymous', 'ask as an anonymous caller')
    .requiredOption('--repository <name>', 'repository name, e.g. team-a/app')
    .option('--tag <tag>', 'a tag the push or delete names (protected tags apply to it)')
    .addOption(
      new Option('--action <action>', 'pull, push, delete, or overwrite (a push that moves an existing tag to another manifest)')
        .choices([...ACTIONS, 'overwrite'])
        .makeOptionMandatory(),
    )
    .action(
      guard(COMMAND_FAILURE, async (flags: ExplainFlags) => {
        if ((flags.user === undefined) === (flags.anonymous !== true))
          throw commandFailure('give exactly one of --user NAME or --anonymous');
        if (!isValidRepositoryName(flags.repository)) throw commandFailure(`not a valid repository name: ${flags.repository}`);
        if (flags.tag !== undefined && !isTag(flags.tag)) throw commandFailure(`not a valid tag: ${flags.tag}`);
        const config = await loadConfig({ file: flags.config });
        // The same group sources as the server: --group as the provider's, then config groups and the group file.
        const groupFile = config.auth.groupFile
          ? await GroupFile.open({ file: config.auth.groupFile, logger: silentLoggers().app, watch: false })
          : undefined;
        const identity: Identity =
          flags.user === undefined
            ? ANONYMOUS
            : withGroups({ user: flags.user, via: 'htpasswd', groups: flags.group }, [
                configGroups(config.groups),
                ...(groupFile ? [(user: string) => groupFile.groupsOf(user)] : []),
              ]);
        await groupFile?.close();
        const policy = new AccessPolicy(config.access);
        const explanation: Explanation =
          flags.tag === undefined
            ? policy.explain(identity, flags.repository, flags.action)
            : await policy.explainTag(identity, flags.repository, flags.action, flags.tag);
        const who =
          identity.user === null
            ? 'anonymous'
            : `user ${identity.user}${identity.groups.length ? ` (groups: ${identity.groups.join(', ')})` : ''}`;
        process.stdout.write(
          `${explanation.allowed ? 'ALLOW' : 'DENY'}: ${who} ${describeRequest(flags.action, flags.repository, flags.tag)}\n`,
        );
        if (explanation.matched.length === 0) process.stdout.write('no rule matched this caller and repository\n');
        for (const rule of explanation.matched) process.stdout.write(describeRule(rule, flags.action, flags.tag));
        if (explanation.tagMustNotMove)
          process.stdout.write(
            `note: ${flags.tag} is protected; a push that moves it to another manifest needs overwrite (--action overwrite)\n`,
          );
        if (explanation.reason === 'protected-tag') {
          // What the server tells the client, word for word.
          const action: Action = flags.action === 'overwrite' ? 'push' : flags.action;
          const message =
            flags.tag === undefined
              ? 'this repository has protected tags; moving one needs overwrite'
              : protectedTagRefusal({ tag: flags.tag }, action);
          process.stdout.write(`refused (protected-tag): ${message}\n`);
        }
        if (!explanation.allowed) process.exitCode = 2;
      }),
    );
  return new Command('access').description('inspect access rules').addCommand(explain);
}
