/**
 * The `cache` configuration section: where the content cache keeps what it fetched from the
 * registry behind (`upstream.cache: true`), how much of it, and how long a tag may be answered
 * without asking the upstream again.
 *
 *   upstream: { url: http://127.0.0.1:5000, cache: true }
 *   cache:
 *     dir: /var/cache/registry-gate     # default dataDir/cache
 *     maxSize: 50GiB                    # least recently used content goes first
 *     tagTtl: 30s                       # default 0: every pull by tag asks the upstream
 */
import { z } from 'zod';
import { durationSchema } from '../duration.js';
import { filePath } from './file-path.js';

const UNIT_BYTES: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 };
const SIZE = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|TiB)$/;

/** Bytes, or undefined when the value is not a size (a number of bytes, or e.g. `512MiB`, `20GiB`). */
export function parseByteSize(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  const match = SIZE.exec(value.trim());
  if (!match) return undefined;
  const bytes = Math.floor(Number(match[1]) * (UNIT_BYTES[match[2] as string] as number));
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

const byteSize = (fallback: string) =>
  z
    .union([z.string(), z.number()])
    .default(fallback)
    .transform((value, ctx) => {
      const bytes = parseByteSize(value);
      if (bytes === undefined || bytes === 0) {
        ctx.addIssue({ code: 'custom', message: `not a positive size: ${JSON.stringify(value)} (use e.g. 512MiB, 20GiB)` });
        return z.NEVER;
      }
      return bytes;
    })
    .meta({ docType: 'size' });

export const cacheConfigSchema = z
  .strictObject({
    dir: filePath.optional().meta({ description: 'Where cached blobs and manifests are kept.', docDefault: '`dataDir/cache`' }),
    maxSize: byteSize('10GiB').describe(
      'Bytes of content kept, at most (a number of bytes, or `512MiB`, `20GiB`…); past it the least recently used content is removed, never content being read.',
    ),
    tagTtl: durationSchema('0s').describe(
      'How long a tag is answered with the digest the upstream last named for it; 0: every pull by tag asks the upstream (a HEAD).',
    ),
  })
  .prefault({})
  .describe('The content cache of `upstream.cache`: blobs and manifests by digest, verified as they arrive.');
