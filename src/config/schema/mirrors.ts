/**
 * `mirrors`: read-only pull-through of other registries, behind the gateway's own authentication
 * and rules. Each mirror serves the repositories its pattern matches; the name the registry behind
 * knows is the client's name without `stripPrefix`:
 *
 *   mirrors:
 *     - repository: "hub/**"
 *       url: https://registry-1.docker.io
 *       stripPrefix: hub/
 *       namespace: docker.io                        # containerd's `?ns=docker.io` (hosts.toml)
 *       credentialsFile: /run/secrets/hub-login     # one line: user:password
 *
 * No two mirrors may match one name (it would be unclear which one answers), so patterns whose
 * literal beginnings overlap are refused; `stripPrefix` must be what every matched name starts with.
 */
import { z } from 'zod';
import { durationSchema } from '../duration.js';
import { filePath } from './file-path.js';
import { repositoryPatternProblem } from './repository-pattern.js';

/** A repository name's leading components, each ending in `/` (the distribution grammar, lower case). */
const NAME_PREFIX = /^([a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*\/)+$/;
/** A registry host as containerd names it in `ns=` (`docker.io`, `quay.io`, `registry.example.com:5000`). */
const NAMESPACE = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d{1,5})?$/;

export const mirrorSchema = z.strictObject({
  repository: z
    .string()
    .min(1)
    .max(255)
    .superRefine((value, ctx) => {
      const problem = value.includes('${') ? 'a mirror pattern takes no placeholders' : repositoryPatternProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .meta({ docType: 'repository pattern' })
    .describe('The repositories this mirror serves, as the client names them (`hub/**`; `**` for every name).'),
  url: z
    .string()
    .refine((value) => /^https?:\/\/[^/?#@\s]+\/?$/.test(value), { error: 'expected http(s)://HOST[:PORT], without a path' })
    .meta({ docType: 'URL' })
    .describe('The registry mirrored: `http(s)://HOST[:PORT]` (Docker Hub: `https://registry-1.docker.io`).'),
  stripPrefix: z
    .string()
    .regex(NAME_PREFIX, 'one or more name components, each ending in /, e.g. hub/')
    .optional()
    .meta({ docDefault: 'none: the name is sent as it is' })
    .describe('Taken off the front of the name before it is sent to the mirrored registry (`hub/library/nginx` → `library/nginx`).'),
  credentialsFile: filePath.optional().meta({
    description:
      'A file with one line `user:password` (the first `:` separates them) for the mirrored registry: sent as Basic, or to its token service. Read at start and on reload; never logged.',
    docDefault: 'none: anonymous',
  }),
  ca: filePath.optional().meta({
    description: "PEM file with the CA(s) to verify the mirrored registry's (and its token service's) TLS certificate.",
    docDefault: "the system's",
  }),
  namespace: z
    .string()
    .regex(NAMESPACE, 'a registry host such as docker.io')
    .optional()
    .meta({ docDefault: 'none' })
    .describe(
      "The registry containerd asks for with `?ns=` (hosts.toml): a request naming it is served by this mirror, as `stripPrefix` + the path's name, and decided on that name.",
    ),
  timeout: durationSchema('60s').describe(
    'Idle timeout of requests to the mirrored registry (headers, and between body chunks): past it, cached content is served stale.',
  ),
  connections: z.number().int().min(1).max(256).default(16).describe('Keep-alive connections to the mirrored registry, at most.'),
});

export type MirrorConfig = z.output<typeof mirrorSchema>;

/** The pattern's literal beginning, up to its first wildcard. */
function literalStart(pattern: string): string {
  const star = pattern.indexOf('*');
  return star === -1 ? pattern : pattern.slice(0, star);
}

/**
 * Whether two patterns may match one name. Without wildcards past the literal beginning being
 * compared, this is conservative: two patterns whose literal beginnings are not one the other's
 * start (`hub/**`, `quay/**`) never overlap; otherwise they may, and are refused.
 */
function mayOverlap(a: string, b: string): boolean {
  if (!a.includes('*') && !b.includes('*')) return a === b;
  const first = literalStart(a);
  const second = literalStart(b);
  return first.startsWith(second) || second.startsWith(first);
}

function mirrorProblems(mirrors: readonly MirrorConfig[], ctx: z.RefinementCtx): void {
  const namespaces = new Map<string, number>();
  for (const [index, mirror] of mirrors.entries()) {
    const prefix = mirror.stripPrefix;
    if (prefix !== undefined && (!mirror.repository.startsWith(prefix) || mirror.repository.length === prefix.length))
      ctx.addIssue({
        code: 'custom',
        path: [index, 'stripPrefix'],
        message: `${prefix} is not the literal beginning of the pattern ${mirror.repository} (use e.g. repository: "${prefix}**")`,
      });
    for (const [other, earlier] of mirrors.slice(0, index).entries())
      if (mayOverlap(earlier.repository, mirror.repository))
        ctx.addIssue({
          code: 'custom',
          path: [index, 'repository'],
          message: `${mirror.repository} overlaps mirrors[${other}].repository ${earlier.repository}: a name could match both`,
        });
    if (mirror.namespace === undefined) continue;
    const taken = namespaces.get(mirror.namespace);
    if (taken !== undefined)
      ctx.addIssue({ code: 'custom', path: [index, 'namespace'], message: `${mirror.namespace} is mirrors[${taken}]'s namespace already` });
    namespaces.set(mirror.namespace, index);
  }
}

export const mirrorsSchema = z
  .array(mirrorSchema)
  .max(64)
  .default([])
  .superRefine(mirrorProblems)
  .meta({ docDefault: 'none' })
  .describe(
    'Read-only pull-through mirrors of other registries, each with the content cache (`cache`) in front; see [mirrors](mirrors.md).',
  );
