/**
 * `registry-gate token create|list|revoke|rotate-key`: robot accounts and the token signing key;
 * `token revoke --user NAME` ends a user's UI sessions and refresh tokens.
 * The files come from `--store FILE` / `--key-dir DIR`, else from the config `serve` reads (`-c`, else
 * REGISTRY_GATE_CONFIG, else none: the defaults under ./data), as `auth.token.robots` and
 * `auth.token.keyDir` (defaults under dataDir/token). Each command says on standard error which
 * file it used and why. A robot's secret is printed once, alone on standard output, and is stored
 * only as a hash; nothing else printed contains it.
 * Exit status: 0 done; 1 no such robot; 2 the command could not do its job.
 */
import { resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { CliFailure, guard, TOOL_FAILURE } from './_failure.js';
import { CONFIG_FILE_VARIABLE } from '../config/env.js';
import { loadConfig } from '../config/load.js';
import { parseDuration } from '../config/duration.js';
import { tokenConfigFrom, type TokenConfig } from '../config/token.js';
import { rotateSigningKey, SIGNING_ALGORITHMS, type SigningAlgorithm } from '../auth/token/keys.js';
import { createRobot, readRobots, removeRobot, type RobotRecord } from '../auth/token/robots.js';
import { publishFilesChanged, publishFromCommand, publishRobotRevocation, publishUserRevocation } from '../auth/revocations.js';
import { sharedRedisConfig } from '../auth/deployment-key.js';
import { recordUserRevocation, revokedUserKey, userRevocationsFile } from '../auth/user-revocations.js';
import type { RedisConnection } from '../redis/connection.js';
import { personalTokenCommand } from './token-personal.js';
import { AccessPolicy } from '../access/policy.js';
import { exampleNames } from '../access/pattern.js';
import { ACTIONS, type Action } from '../oci/actions.js';

/**
 * The scopes of a new robot that the access rules let it use nowhere: a robot's scopes only narrow
 * what the rules grant it (as `robot$NAME`, with no groups), so such a scope needs a rule of its own,
 * e.g. `{ repository: "team-a/**", actions: [pull, push], subjects: ["user:robot$ci"] }`.
 */
async function uselessScopes(name: string, scopes: readonly string[], flags: FileFlags): Promise<string[]> {
  const config = await loadConfig({ file: flags.config });
  const policy = new AccessPolicy(config.access);
  const robot = { user: name, groups: [], via: 'robot' as const };
  const warnings: string[] = [];
  for (const scope of scopes) {
    // Validated by createRobot: TYPE:PATTERN:ACTIONS, and repository names hold no colon.
    const [type, pattern = '', actionList = ''] = scope.split(':');
    if (type !== 'repository') continue;
    const actions: readonly Action[] = actionList === '*' ? ACTIONS : (actionList.split(',') as Action[]);
    const refused = actions.filter((action) => !policy.mayWithin(robot, pattern, action));
    if (refused.length > 0)
      warnings.push(
        `Warning: the access rules${config.source ? ` of ${config.source}` : ''} grant ${name} no ${refused.join(', ')} on ${pattern}: a robot's scopes only narrow what the rules give it. Add a rule for it, e.g. { repository: "${pattern}", actions: [${refused.join(', ')}], subjects: ["user:${name}"] }, then check with: registry-gate access explain --user '${name}' --repository ${exampleNames(pattern, null, [])[0] ?? pattern} --action ${refused[0] ?? 'pull'}`,
      );
  }
  return warnings;
}

export interface TokenCliIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
}

const DEFAULT_ROBOT_LIFETIME_MS = 90 * 86_400_000;
/** Clock skew between this machine and the servers, on top of the longest lifetime. */
const REVOCATION_LEEWAY_MS = 60_000;

interface FileFlags {
  config?: string;
  store?: string;
  keyDir?: string;
}

async function settings(flags: FileFlags): Promise<TokenConfig & { source: string | undefined }> {
  const config = await loadConfig({ file: flags.config });
  return { ...tokenConfigFrom(config), source: config.source };
}

/** The robot store, and where its name came from (printed with every answer, so a wrong store shows). */
interface RobotStore {
  readonly file: string;
  readonly origin: string;
}

async function robotStore(flags: FileFlags): Promise<RobotStore> {
  if (flags.store !== undefined) return { file: resolve(flags.store), origin: 'given with --store' };
  const { robots, source } = await settings(flags);
  return {
    file: robots,
    origin:
      source === undefined
        ? `no config file given with -c or ${CONFIG_FILE_VARIABLE}; the default, as for serve without one`
        : `from the config ${source}`,
  };
}

const where = (store: RobotStore) => `${store.file} (${store.origin})`;

/** With `redis` in the config, tells every replica at once (they also see the file change within 2 s when they share it). */
async function tellReplicas(
  flags: FileFlags,
  say: (text: string) => void,
  publish: (redis: RedisConnection) => Promise<void>,
): Promise<void> {
  const outcome = await publishFromCommand(await sharedRedisConfig(await loadConfig({ file: flags.config })), publish);
  if (outcome === 'published') say('Published to every replica through Redis.');
  if (outcome === 'unavailable')
    say('Redis is unavailable: replicas see the change when they re-read the file (within 2 seconds where they share it).');
}

/** A date, or 'never' (commander turns a parsed null into ''). */
function parseExpiry(value: string): Date | 'never' {
  if (value === 'never') return 'never';
  const ms = parseDuration(value);
  if (ms === undefined || ms === 0) throw new InvalidArgumentError('expected a duration such as 30d, 12h or 90m, or "never"');
  return new Date(Date.now() + ms);
}

/** What `token list` shows of a robot: named fields only, so neither the secret's hash nor a field added later is printed. */
function listed({ name, id, scopes, created, expires }: RobotRecord): Omit<RobotRecord, 'hash'> {
  return { name, id, scopes, created, expires };
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/**
 * `token revoke --user`: records the time in the key directory (which every server watches) and,
 * with `redis`, publishes it. Kept as long as a session or refresh token issued before could live.
 */
async function revokeUser(user: string, flags: FileFlags, say: (text: string) => void): Promise<void> {
  if (user.trim() === '' || user.length > 256) throw new CliFailure('--user needs a user name', 2);
  const config = await loadConfig({ file: flags.config });
  const keyDir = flags.keyDir === undefined ? tokenConfigFrom(config).keyDir : resolve(flags.keyDir);
  const keepMs = Math.max(tokenConfigFrom(config).refreshExpiresIn, config.ui.sessionTtl) + REVOCATION_LEEWAY_MS;
  const notBefore = Date.now();
  await recordUserRevocation(keyDir, user, notBefore, keepMs);
  say(`Revoked every UI session and refresh token of ${user} issued until now, in ${userRevocationsFile(keyDir)}.`);
  await tellReplicas(flags, say, (redis) => publishUserRevocation(redis, revokedUserKey(user), notBefore, keepMs));
}

/** Where a command writes: standard output for what scripts read, `say` (standard error) for people. */
interface Terminal {
  readonly stdout: TokenCliIo['stdout'];
  readonly say: (text: string) => void;
}

const configOption = () =>
  new Option('-c, --config <file>', `YAML configuration file, the one serve reads (default: $${CONFIG_FILE_VARIABLE}, else none)`);
const storeOption = () =>
  new Option('--store <file>', 'robot store file (default: auth.token.robots of the config, or dataDir/token/robots.json)');

export function tokenCommand(io: Partial<TokenCliIo> = {}): Command {
  const { stdout = process.stdout, stderr = process.stderr } = io;
  const terminal: Terminal = { stdout, say: (text) => void stderr.write(text + '\n') };
  const root = new Command('token')
    .description("Robot accounts, users' personal access tokens and the token signing key of the Docker token service")
    .configureOutput({ writeOut: (text) => void stdout.write(text), writeErr: (text) => void stderr.write(text) })
    .addHelpText(
      'after',
      `
Exit status: 0 done; 1 no such robot; 2 any other failure.

Examples:
  registry-gate token create --name ci --scope 'repository:team-a/*:pull,push' --expires 30d -c registry-gate.yaml
  registry-gate token list -c registry-gate.yaml
  registry-gate token revoke ci -c registry-gate.yaml
  registry-gate token revoke --user alice -c registry-gate.yaml
  registry-gate token rotate-key -c registry-gate.yaml
  registry-gate token personal list --user alice -c registry-gate.yaml`,
    );
  addCreateCommand(root, terminal);
  addListCommand(root, terminal);
  addRevokeCommand(root, terminal);
  addRotateKeyCommand(root, terminal);
  root.addCommand(personalTokenCommand({ stdout, stderr }));
  return root;
}

function addCreateCommand(root: Command, { stdout, say }: Terminal): void {
  root
    .command('create')
    .description('Create a robot account; its secret is printed once on standard output')
    .requiredOption('--name <name>', 'robot name; it logs in as robot$NAME')
    .requiredOption(
      '--scope <scope>',
      "what it may do, e.g. 'repository:team-a/*:pull,push' or 'registry:catalog:*' (repeatable)",
      collect,
      [],
    )
    .option('--expires <duration>', 'lifetime, e.g. 30d, or "never" (default 90d)', parseExpiry)
    .addOption(storeOption())
    .addOption(configOption())
    .action(
      guard(TOOL_FAILURE, async function (flags: FileFlags & { name: string; scope: string[]; expires?: Date | 'never' }) {
        const store = await robotStore(flags);
        const expires =
          flags.expires === undefined ? new Date(Date.now() + DEFAULT_ROBOT_LIFETIME_MS) : flags.expires === 'never' ? null : flags.expires;
        const { robot, secret } = await createRobot(store.file, { name: flags.name, scopes: flags.scope, expires });
        stdout.write(secret + '\n');
        say(
          `Created ${robot.name} in ${where(store)}; ${robot.expires ? `expires ${robot.expires}` : 'never expires'}. Log in as ${robot.name} with the secret above, shown this once.`,
        );
        // Servers see the new store when they next look at the file (at most about a second), or at once through Redis.
        await tellReplicas(flags, say, (redis) => publishFilesChanged(redis));
        say('Running servers accept it within 2 seconds (they re-read the store when it changes).');
        for (const warning of await uselessScopes(robot.name, robot.scopes, flags)) say(warning);
      }),
    );
}

function addListCommand(root: Command, { stdout, say }: Terminal): void {
  root
    .command('list')
    .description('List robot accounts (never their secrets)')
    .addOption(storeOption())
    .addOption(configOption())
    .option('--json', 'one JSON array')
    .action(
      guard(TOOL_FAILURE, async function (flags: FileFlags & { json?: boolean }) {
        const store = await robotStore(flags);
        const robots = (await readRobots(store.file)).map(listed);
        // On standard error: standard output stays one line per robot (or the JSON) for scripts.
        say(
          robots.length === 0
            ? `No robots in ${where(store)}.`
            : `${robots.length} robot${robots.length === 1 ? '' : 's'} in ${where(store)}:`,
        );
        if (flags.json) {
          stdout.write(JSON.stringify(robots, null, 2) + '\n');
          return;
        }
        const now = Date.now();
        for (const robot of robots) {
          const state =
            robot.expires === null
              ? 'never expires'
              : Date.parse(robot.expires) <= now
                ? `EXPIRED ${robot.expires}`
                : `expires ${robot.expires}`;
          stdout.write(`${robot.name}\t${robot.scopes.join(' ')}\tcreated ${robot.created}\t${state}\n`);
        }
      }),
    );
}

function addRevokeCommand(root: Command, { say }: Terminal): void {
  root
    .command('revoke')
    .description(
      "Delete a robot account, or with --user end a user's UI sessions and refresh tokens (running servers stop accepting them within 2 seconds)",
    )
    .argument('[name]', 'robot name, with or without robot$')
    .option(
      '--user <name>',
      'a user (htpasswd, LDAP): every UI session and refresh token issued until now ends; the password still logs in',
    )
    .option('--key-dir <dir>', 'with --user: the key directory where revocations are kept (default: auth.token.keyDir, or dataDir/token)')
    .addOption(storeOption())
    .addOption(configOption())
    .action(
      guard(TOOL_FAILURE, async function (name: string | undefined, flags: FileFlags & { user?: string }) {
        if (flags.user !== undefined && name === undefined) {
          await revokeUser(flags.user, flags, say);
          return;
        }
        if (name === undefined || flags.user !== undefined) throw new CliFailure('name a robot, or a user with --user (not both)', 2);
        const store = await robotStore(flags);
        const revoked = await removeRobot(store.file, name);
        if (!revoked) throw new CliFailure(`no robot ${name} in ${where(store)}`, 1);
        say(`Revoked ${revoked.name} in ${where(store)}.`);
        await tellReplicas(flags, say, (redis) => publishRobotRevocation(redis, revoked));
      }),
    );
}

function addRotateKeyCommand(root: Command, { say }: Terminal): void {
  root
    .command('rotate-key')
    .description('Make a new token signing key; the previous one still verifies the tokens it signed until they expire')
    .option('--key-dir <dir>', 'key directory (default: auth.token.keyDir, or dataDir/token)')
    .addOption(new Option('--algorithm <alg>', 'algorithm of the new key (default: auth.token.algorithm)').choices([...SIGNING_ALGORITHMS]))
    .addOption(configOption())
    .action(
      guard(TOOL_FAILURE, async function (flags: FileFlags & { algorithm?: SigningAlgorithm }) {
        const config = flags.keyDir !== undefined && flags.algorithm !== undefined ? undefined : await settings(flags);
        const dir = flags.keyDir ?? (config as TokenConfig).keyDir;
        const algorithm = flags.algorithm ?? (config as TokenConfig).algorithm;
        const { kid, previousKid } = await rotateSigningKey(dir, algorithm);
        say(`New ${algorithm} signing key ${kid} in ${dir}${previousKid ? `; ${previousKid} is kept for verification` : ''}.`);
        say('Registries verifying with token-cert.pem or token-jwks.json must re-read it (Distribution: restart it).');
        await tellReplicas(flags, say, publishFilesChanged);
      }),
    );
}
