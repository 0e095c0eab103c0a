/**
 * Robot accounts: named credentials for CI and other machines, limited to a few scopes and
 * optionally expiring, kept in one JSON file next to the token keys.
 *
 *   robots.json (0600, replaced atomically under its lock, robots.json.lock: lib/file-lock.ts)
 *   {"version":1,"robots":[{"name":"robot$ci","id":"…","hash":"sha256:…","scopes":["repository:team-a/*:pull,push"],
 *                           "created":"…","expires":"…"|null}]}
 *
 * The secret is 32 random bytes, shown once when the robot is made and stored only as its SHA-256
 * (a fast hash is enough for a secret with 256 bits of entropy: there is nothing to guess), compared
 * in constant time. A robot logs in with Basic `robot$NAME:SECRET`, at the gateway or at the token
 * endpoint; its identity has no groups and carries its scopes as `tokenAccess`, so whatever it does
 * needs the policy AND its scopes. A refresh token is bound to the robot's `id`, not its name, so
 * revoking a robot and making another under its name does not revive the old one's refresh tokens.
 * The file is watched (directory watch plus a 1 s stat poll), so a revoked robot stops working
 * within 2 seconds without a restart; expiry is checked on every use.
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { errnoCode } from '../../lib/errno.js';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import { repositoryPatternProblem } from '../../config/schema/repository-pattern.js';
import type { AuthOutcome, AuthProvider, Credentials, Identity } from '../identity.js';
import { foldUserName } from '../user-name.js';
import { writeFileAtomic } from '../../lib/atomic-write.js';
import { withFileLock } from '../../lib/file-lock.js';
import { PRIVATE_FILE_MODE } from '../../lib/file-modes.js';
import { WatchedFile, type FileWatchOptions } from '../../lib/watched-file.js';
import { CATALOG, parseScope, REPOSITORY } from './scope.js';
import type { TokenAccess } from './types.js';
import { InternalError } from '../../lib/internal-errors.js';
import { parseJsonFile } from '../../lib/json-file.js';

export const ROBOT_PREFIX = 'robot$';
const NAME = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
const MAX_NAME_LENGTH = 64;
const SECRET_PREFIX = 'rgr_';
const ROBOT_ACTIONS = new Set(['pull', 'push', 'delete', '*']);

const robotRecord = z.strictObject({
  name: z.string().startsWith(ROBOT_PREFIX),
  id: z.string().min(1),
  hash: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  scopes: z.array(z.string()),
  created: z.iso.datetime(),
  expires: z.iso.datetime().nullable(),
});
const robotFileSchema = z.strictObject({ version: z.literal(1), robots: z.array(robotRecord) });

export type RobotRecord = z.infer<typeof robotRecord>;

/** `ci` or `robot$ci` → `robot$ci`; undefined when the name is not usable. */
export function robotUserName(name: string): string | undefined {
  const bare = name.startsWith(ROBOT_PREFIX) ? name.slice(ROBOT_PREFIX.length) : name;
  return bare.length <= MAX_NAME_LENGTH && NAME.test(bare) ? ROBOT_PREFIX + bare : undefined;
}

/**
 * A robot scope as access: `repository:PATTERN:ACTIONS` (PATTERN as in access rules, `*` within a
 * component and `**` across, no placeholders) or `registry:catalog:*`.
 */
export function parseRobotScope(text: string): { access: TokenAccess } | { problem: string } {
  const scope = parseScope(text);
  if (!scope) return { problem: `not a scope (TYPE:NAME:ACTIONS): ${text}` };
  if (scope.type === CATALOG.type) {
    return scope.name === CATALOG.name && scope.actions.length === 1 && scope.actions[0] === '*'
      ? { access: CATALOG }
      : { problem: `the only registry scope is registry:catalog:*, not ${text}` };
  }
  if (scope.type !== REPOSITORY) return { problem: `unknown resource type ${scope.type} in ${text}` };
  const unknown = scope.actions.filter((action) => !ROBOT_ACTIONS.has(action));
  if (unknown.length > 0) return { problem: `unknown action(s) ${unknown.join(', ')} in ${text} (use pull, push, delete or *)` };
  if (scope.name.includes('$')) return { problem: `placeholders are not allowed in robot scopes: ${text}` };
  const problem = repositoryPatternProblem(scope.name);
  if (problem) return { problem: `${text}: ${problem}` };
  if (!/^[a-z0-9._\-/*]+$/.test(scope.name))
    return { problem: `${text}: a repository pattern has lower-case letters, digits, . _ - / and * only` };
  return { access: Object.freeze({ type: REPOSITORY, name: scope.name, actions: Object.freeze([...scope.actions]), pattern: true }) };
}

function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

function serialize(robots: readonly RobotRecord[]): string {
  return JSON.stringify({ version: 1, robots }, null, 2) + '\n';
}

/** The robots in `file` ([] when it does not exist). Throws on a file that is not a robot store. */
export async function readRobots(file: string): Promise<RobotRecord[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return [];
    throw error;
  }
  return parseRobots(text, file);
}

/** The robots in a store's text. Throws on text that is not a robot store. */
function parseRobots(text: string, file: string): RobotRecord[] {
  return parseJsonFile(text, file, robotFileSchema, 'a robot store').robots;
}

export interface CreateRobotOptions {
  /** `ci` or `robot$ci`. */
  readonly name: string;
  readonly scopes: readonly string[];
  /** null: never expires. */
  readonly expires: Date | null;
  readonly now?: Date;
}

/** Adds a robot to the store; the secret is returned here and nowhere else. */
export async function createRobot(file: string, options: CreateRobotOptions): Promise<{ robot: RobotRecord; secret: string }> {
  const name = robotUserName(options.name);
  if (!name)
    throw new InternalError(
      'RG_ERR_ROBOT_INVALID',
      `invalid robot name ${JSON.stringify(options.name)} (lower-case letters and digits, separated by . _ or -; at most ${MAX_NAME_LENGTH})`,
    );
  if (options.scopes.length === 0) throw new InternalError('RG_ERR_ROBOT_INVALID', 'a robot needs at least one scope');
  for (const scope of options.scopes) {
    const parsed = parseRobotScope(scope);
    if ('problem' in parsed) throw new InternalError('RG_ERR_ROBOT_INVALID', parsed.problem);
  }
  const now = options.now ?? new Date();
  if (options.expires !== null && options.expires.getTime() <= now.getTime())
    throw new InternalError('RG_ERR_ROBOT_INVALID', 'the expiry is in the past');
  const secret = SECRET_PREFIX + randomBytes(32).toString('base64url');
  const robot: RobotRecord = {
    name,
    id: randomUUID(),
    hash: `sha256:${hashSecret(secret).toString('hex')}`,
    scopes: [...options.scopes],
    created: now.toISOString(),
    expires: options.expires === null ? null : options.expires.toISOString(),
  };
  // Read and replaced under the file's lock, which the UI and the `token` command both take: neither undoes the other's change.
  await withFileLock(file, async () => {
    const robots = await readRobots(file);
    if (robots.some((held) => held.name === name))
      throw new InternalError('RG_ERR_ROBOT_EXISTS', `robot ${name} exists already (revoke it first)`);
    await writeFileAtomic(file, serialize([...robots, robot]), { mode: PRIVATE_FILE_MODE });
  });
  return { robot, secret };
}

/** Removes a robot; false when there was none of that name. */
export async function revokeRobot(file: string, name: string): Promise<boolean> {
  return (await removeRobot(file, name)) !== undefined;
}

/** Removes a robot and returns what it was (its id, to publish the revocation); undefined when there was none of that name. */
export async function removeRobot(file: string, name: string): Promise<RobotRecord | undefined> {
  const user = robotUserName(name);
  return withFileLock(file, async () => {
    const robots = await readRobots(file);
    const revoked = robots.find((robot) => robot.name === user);
    if (!revoked) return undefined;
    await writeFileAtomic(file, serialize(robots.filter((robot) => robot !== revoked)), { mode: PRIVATE_FILE_MODE });
    return revoked;
  });
}

interface LoadedRobot {
  readonly digest: Buffer;
  /** What identifies the robot's credential: its id and its secret's hash. */
  readonly credential: string;
  readonly expiresAt: number | null;
  readonly identity: Identity;
}

/** The robots as last read, and a digest of their records (a rewrite of the same robots is no change). */
interface LoadedStore {
  readonly robots: ReadonlyMap<string, LoadedRobot>;
  readonly digest: string;
}

export interface RobotProviderOptions {
  readonly file: string;
  readonly logger?: Logger;
  /** Stat poll interval and directory watch; default 1000 ms and on. */
  readonly watch?: FileWatchOptions;
  /** Clock, for tests. */
  readonly now?: () => number;
}

const DECOY = hashSecret(randomBytes(32).toString('base64url'));

/** The `robot` auth provider over a robot store that is re-read when it changes. */
export class RobotProvider implements AuthProvider {
  readonly name = 'robot';
  readonly path: string;
  private readonly listeners = new Set<() => void>();
  private readonly logger: Logger | undefined;
  private readonly now: () => number;
  private store!: WatchedFile<LoadedStore>;
  /** Ids revoked elsewhere (published through Redis by `token revoke`), refused even while this replica's file still lists them. */
  private revokedIds = new Set<string>();

  /** Loads the store (a missing file is an empty store, watched until it appears). */
  static async open(options: RobotProviderOptions): Promise<RobotProvider> {
    const provider = new RobotProvider(options);
    provider.store = await WatchedFile.open<LoadedStore>({
      file: provider.path,
      what: 'robot store',
      ...(options.logger ? { logger: options.logger } : {}),
      ...options.watch,
      parse: (content) => provider.loadRecords(parseRobots(content.toString('utf8'), provider.path)),
      whenMissing: () => provider.loadRecords([]),
    });
    let loaded = provider.store.current;
    provider.store.onChange(() => {
      const before = loaded;
      loaded = provider.store.current;
      // A re-read that finds the same robots (a rewrite, a missing file still missing) tells nobody.
      if (loaded.digest === before.digest) return;
      provider.logger?.info({ file: provider.path, robots: loaded.robots.size }, 'robot store reloaded');
      provider.notify();
    });
    return provider;
  }

  private constructor(options: RobotProviderOptions) {
    this.path = resolve(options.file);
    this.logger = options.logger;
    this.now = options.now ?? Date.now;
  }

  get robotCount(): number {
    return this.robots.size;
  }

  private get robots(): ReadonlyMap<string, LoadedRobot> {
    return this.store.current.robots;
  }

  verify(credentials: Credentials): Promise<Identity | null> {
    const outcome = this.check(credentials);
    return Promise.resolve(typeof outcome === 'object' ? outcome.identity : null);
  }

  /**
   * For the provider chain: a name without the `robot$` prefix is not ours ('unknown', the next
   * provider is asked); a `robot$` name is ours to accept or reject, existing or not, and so is any
   * other spelling of one (`ROBOT$ci`): no later provider may decide a robot's name.
   */
  authenticate(credentials: Credentials): Promise<AuthOutcome> {
    const outcome = this.check(credentials);
    return Promise.resolve(
      typeof outcome === 'object'
        ? { result: 'accepted', identity: outcome.identity, credential: outcome.credential }
        : { result: outcome },
    );
  }

  /** Every `robot$` name is a robot's, in any spelling, whether such a robot exists or not. */
  owns(user: string): boolean {
    return foldUserName(user).startsWith(ROBOT_PREFIX);
  }

  private check(credentials: Credentials): LoadedRobot | 'unknown' | 'rejected' {
    if (!this.owns(credentials.user)) return 'unknown';
    const robot = this.robots.get(credentials.user);
    const matches = timingSafeEqual(hashSecret(credentials.password), robot?.digest ?? DECOY);
    return robot && matches && this.usable(robot) ? robot : 'rejected';
  }

  /**
   * For refresh tokens, like `authenticate` without the secret: a `robot$` name is ours, accepted
   * while the robot exists and has not expired (its identity carries the robot's id as
   * `subjectId`, which tells a re-created robot from the one it replaced), rejected otherwise.
   */
  lookup(user: string): Promise<AuthOutcome> {
    if (!user.startsWith(ROBOT_PREFIX)) return Promise.resolve({ result: 'unknown' });
    const robot = this.robots.get(user);
    return Promise.resolve(
      robot && this.usable(robot) ? { result: 'accepted', identity: robot.identity, credential: robot.credential } : { result: 'rejected' },
    );
  }

  /** Called after the robots changed (so caches of verified credentials can be flushed). */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Re-reads the store now if it changed, or whatever its stat says with `force`. */
  reload(force = false): Promise<void> {
    return this.store.reload(force);
  }

  /**
   * Refuses the robots with these ids from now on, whatever the store says (they were revoked on
   * another machine and this replica's copy of the store may not show it yet). Tells the listeners
   * when a robot it holds is among them.
   */
  refuseIds(ids: Iterable<string>): void {
    const added = [...ids].filter((id) => !this.revokedIds.has(id));
    if (added.length === 0) return;
    for (const id of added) this.revokedIds.add(id);
    const held = new Set([...this.robots.values()].map((robot) => robot.identity.subjectId));
    if (added.some((id) => held.has(id))) this.notify();
  }

  async close(): Promise<void> {
    this.listeners.clear();
    await this.store.close();
  }

  private usable(robot: LoadedRobot): boolean {
    const expired = robot.expiresAt !== null && this.now() >= robot.expiresAt;
    return !expired && !this.revokedIds.has(robot.identity.subjectId as string);
  }

  private loadRecords(records: readonly RobotRecord[]): LoadedStore {
    const robots = new Map<string, LoadedRobot>();
    const digest = createHash('sha256').update(JSON.stringify(records)).digest('hex');
    for (const record of records) {
      const tokenAccess: TokenAccess[] = [];
      for (const scope of record.scopes) {
        const parsed = parseRobotScope(scope);
        if ('access' in parsed) tokenAccess.push(parsed.access);
        else this.logger?.warn({ file: this.path, robot: record.name, problem: parsed.problem }, 'robot scope ignored');
      }
      robots.set(record.name, {
        digest: Buffer.from(record.hash.slice('sha256:'.length), 'hex'),
        credential: `${record.id}\n${record.hash}`,
        expiresAt: record.expires === null ? null : Date.parse(record.expires),
        identity: Object.freeze({
          user: record.name,
          groups: Object.freeze([]),
          via: 'robot' as const,
          tokenAccess: Object.freeze(tokenAccess),
          subjectId: record.id,
        }),
      });
    }
    return { robots, digest };
  }

  private notify(): void {
    for (const listener of this.listeners) {
      try {
        listener();
      } catch (error) {
        this.logger?.error({ err: error instanceof Error ? error.message : String(error) }, 'robot change listener failed');
      }
    }
  }
}
