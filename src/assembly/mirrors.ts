/**
 * The `mirrors` section: each mirror's registry (an upstream pool authenticated with the mirror's
 * own credentials, ./challenge-tokens), the shared content cache in front, and the routing of the
 * names its pattern matches (compiled here, where access/'s matcher may be imported).
 */
import { readFile } from 'node:fs/promises';
import { Agent } from 'undici';
import type { Logger } from 'pino';
import type { Config } from '../config/load.js';
import type { MirrorConfig } from '../config/schema/mirrors.js';
import { compileRepositoryPattern } from '../access/pattern.js';
import type { Backend } from '../backend/backend.js';
import { cachingBackend, type SharedCache } from '../backend/cache/index.js';
import { MirroringBackend, type Mirror, type MirrorRoute } from '../backend/mirrors/index.js';
import { UpstreamBackend } from '../backend/upstream/index.js';
import { ChallengeTokens, type RegistryCredentials } from '../backend/upstream/challenge-tokens.js';
import type { CloseStack } from '../lib/close-stack.js';
import { InternalError } from '../lib/internal-errors.js';

/** `user:password` on the file's first line; the password may hold colons. Nothing of the content is ever in an error. */
export async function readMirrorCredentials(file: string): Promise<RegistryCredentials> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new InternalError('RG_ERR_FILE_UNREADABLE', `${file}: the mirror's credentials file cannot be read`, { cause: error });
  }
  const line = text.split(/\r?\n/, 1)[0] ?? '';
  const colon = line.indexOf(':');
  if (colon <= 0 || colon === line.length - 1) throw new InternalError('RG_ERR_FILE_INVALID', `${file}: expected one line user:password`);
  return { username: line.slice(0, colon), password: line.slice(colon + 1) };
}

export function mirrorRoute(mirror: MirrorConfig): MirrorRoute {
  const pattern = compileRepositoryPattern(mirror.repository);
  return {
    origin: new URL(mirror.url).origin,
    scope: `${mirror.url}\n${mirror.repository}`,
    stripPrefix: mirror.stripPrefix ?? '',
    namespace: mirror.namespace,
    matches: (repository) => pattern.matches(repository, null, []),
  };
}

async function openMirror(mirror: MirrorConfig, shared: SharedCache, config: Config, stack: CloseStack, logger: Logger): Promise<Mirror> {
  const credentials = mirror.credentialsFile === undefined ? undefined : await readMirrorCredentials(mirror.credentialsFile);
  // The realm may be another host (Docker Hub's auth.docker.io): it is verified against the mirror's CA too.
  const realmAgent = mirror.ca === undefined ? undefined : new Agent({ connect: { ca: await readFile(mirror.ca) } });
  if (realmAgent) stack.defer(() => realmAgent.close());
  const upstream = new UpstreamBackend({
    url: mirror.url,
    timeoutMs: mirror.timeout,
    connections: mirror.connections,
    caFile: mirror.ca,
    logger,
    mirror: { authorizer: (pool) => new ChallengeTokens(pool, credentials, realmAgent) },
  });
  stack.defer(() => upstream.close());
  const route = mirrorRoute(mirror);
  return { route, cached: cachingBackend(upstream, shared, { scope: route.scope, tagTtlMs: config.cache.tagTtl }) };
}

/** `primary` with the mirrors of `config` in front of it, and their routes (for `ns=` and the UI). */
export async function withMirrors(
  config: Config,
  shared: SharedCache | undefined,
  primary: Backend,
  stack: CloseStack,
  logger: Logger,
): Promise<{ backend: Backend; routes: readonly MirrorRoute[] }> {
  if (config.mirrors.length === 0 || !shared) return { backend: primary, routes: [] };
  const mirrors: Mirror[] = [];
  for (const mirror of config.mirrors) mirrors.push(await openMirror(mirror, shared, config, stack, logger));
  return { backend: new MirroringBackend(primary, mirrors), routes: mirrors.map((mirror) => mirror.route) };
}
