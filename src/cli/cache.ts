/**
 * `registry-gate cache show|purge [--config FILE]`: the content cache's usage, and forgetting a
 * digest or a repository. Safe while the server runs on the same folder (src/backend/cache/offline.ts
 * says why); usage mistakes (a malformed digest, a repository name that cannot be one, nothing
 * cached to purge) exit with status 2.
 */
import { Command } from 'commander';
import { measureCacheUsage, purgeDigest, purgeRepository, type PurgeReport } from '../backend/cache/offline.js';
import { tryParseDigest } from '../backend/filesystem/digest.js';
import { loadConfig } from '../config/load.js';
import { mirrorRoute } from '../assembly/mirrors.js';
import { mirrorFor } from '../backend/mirrors/mirror-routes.js';
import { isValidRepositoryName } from '../oci/names.js';
import { hasTerminalControl } from '../lib/terminal-safe.js';
import { commandFailure, guard, type FailureStyle } from './_failure.js';

/** As `gc` words its failures, with the status of a usage mistake. */
const CACHE_FAILURE: FailureStyle = { prefix: 'registry-gate: ', exitCode: 2 };

interface ConfigFlag {
  config?: string;
}

interface PurgeFlags extends ConfigFlag {
  digest?: string;
  repository?: string;
}

function percent(part: number, whole: number): string {
  return `${((100 * part) / whole).toFixed(1)} %`;
}

async function showUsage(flags: ConfigFlag & { json?: boolean }): Promise<void> {
  const config = await loadConfig({ file: flags.config });
  const { dir, maxSize } = config.cache;
  const usage = await measureCacheUsage(dir);
  if (flags.json === true) {
    process.stdout.write(`${JSON.stringify({ dir, maxBytes: maxSize, ...usage })}\n`);
    return;
  }
  const lines = [
    `cache ${dir}${config.upstream?.cache === true ? '' : ' (upstream.cache is off in this configuration)'}`,
    `  used:         ${usage.bytes} of ${maxSize} bytes (${percent(usage.bytes, maxSize)})`,
    `  blobs:        ${usage.blobs}`,
    `  manifests:    ${usage.manifests}`,
    `  repositories: ${usage.repositories} (that the upstream said hold cached content)`,
    `  fills in progress: ${usage.fillsInProgress}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

function describePurge(what: string, report: PurgeReport): string {
  return `purged ${what}: ${report.files} file(s), ${report.bytes} bytes removed, ${report.markers} repository marker(s) ended\n`;
}

async function purge(flags: PurgeFlags): Promise<void> {
  if ((flags.digest === undefined) === (flags.repository === undefined)) {
    throw commandFailure('cache purge takes one of --digest or --repository', CACHE_FAILURE);
  }
  const config = await loadConfig({ file: flags.config });
  const { dir } = config.cache;
  if (flags.digest !== undefined) {
    const digest = tryParseDigest(flags.digest);
    if (!digest) {
      const shown = flags.digest.length <= 200 && !hasTerminalControl(flags.digest) ? ` ${JSON.stringify(flags.digest)}` : '';
      throw commandFailure(`not a sha256 or sha512 digest${shown} (expected e.g. sha256:<64 lower-case hex digits>)`, CACHE_FAILURE);
    }
    const report = await purgeDigest(dir, digest);
    if (report.files === 0 && report.markers === 0) throw commandFailure(`${digest.value} is not in the cache ${dir}`, CACHE_FAILURE);
    process.stdout.write(describePurge(digest.value, report));
    return;
  }
  const repository = flags.repository ?? '';
  if (!isValidRepositoryName(repository)) {
    const shown = repository.length <= 300 && !hasTerminalControl(repository) ? ` ${JSON.stringify(repository)}` : '';
    throw commandFailure(`not a repository name${shown}`, CACHE_FAILURE);
  }
  // A mirror's name is kept under the mirror and the name at the registry it mirrors.
  const mirror = mirrorFor(config.mirrors.map(mirrorRoute), repository);
  const report = mirror
    ? await purgeRepository(dir, repository.slice(mirror.stripPrefix.length), mirror.scope)
    : await purgeRepository(dir, repository);
  if (report.markers === 0) throw commandFailure(`nothing of repository ${repository} is known to the cache ${dir}`, CACHE_FAILURE);
  process.stdout.write(describePurge(`repository ${repository}`, report));
}

export function cacheCommand(): Command {
  const command = new Command('cache').description(
    'the content cache (upstream.cache): show its usage, purge a digest or a repository; safe while the server runs',
  );
  command
    .command('show')
    .description('bytes used of cache.maxSize, blobs, manifests and repositories known')
    .option('-c, --config <file>', 'the YAML configuration file (its cache.dir is read)')
    .option('--json', 'one JSON object instead of the lines for people')
    .action(guard(CACHE_FAILURE, showUsage));
  command
    .command('purge')
    .description(
      'forget a digest (its bytes and which repositories have it), or a repository (what the upstream said it holds, ' +
        'and the bytes no other repository has); the next pull fetches again from the upstream',
    )
    .option('-c, --config <file>', 'the YAML configuration file (its cache.dir is changed)')
    .option('--digest <digest>', 'a content digest, sha256:<hex>')
    .option('--repository <name>', 'a repository name, e.g. library/alpine')
    .action(guard(CACHE_FAILURE, purge));
  return command;
}
