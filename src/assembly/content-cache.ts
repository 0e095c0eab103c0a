/**
 * The content cache (the `cache` section): opened with the generation that uses it — for the
 * upstream (`upstream.cache: true`) and for every mirror, which always has it — once, so they share
 * the folder, its size and its single fill per digest; its fills serialised per digest through the
 * process's shared lock, its counts in the gate's metrics.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/load.js';
import type { Backend } from '../backend/backend.js';
import { cachingBackend, openContentCache, type SharedCache } from '../backend/cache/index.js';
import type { UpstreamBackend } from '../backend/upstream/index.js';
import type { SectionLock } from '../lib/section-lock.js';
import type { GateMetrics } from '../metrics/gate-metrics.js';

export interface CacheResources {
  readonly metrics: GateMetrics;
  readonly sharedLock: SectionLock;
  readonly logger: Logger;
}

/** The cache, when the upstream or a mirror uses it. */
export async function openSharedCache(config: Config, resources: CacheResources): Promise<SharedCache | undefined> {
  if (!config.upstream?.cache && config.mirrors.length === 0) return undefined;
  return openContentCache({
    dir: config.cache.dir,
    maxBytes: config.cache.maxSize,
    lock: resources.sharedLock,
    logger: resources.logger,
    observer: resources.metrics.cache,
  });
}

export function withContentCache(config: Config, shared: SharedCache | undefined, upstream: UpstreamBackend): Backend {
  if (!config.upstream?.cache || !shared) return upstream;
  return cachingBackend(upstream, shared, { scope: '', tagTtlMs: config.cache.tagTtl });
}
