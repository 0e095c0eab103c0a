/**
 * The content cache in front of the upstream (`upstream.cache: true`, the `cache` section): opened
 * with the generation that uses it, its fills serialised per digest through the process's shared
 * lock, its counts in the gate's metrics.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/load.js';
import type { Backend } from '../backend/backend.js';
import { openCachingBackend } from '../backend/cache/index.js';
import type { UpstreamBackend } from '../backend/upstream/index.js';
import type { SectionLock } from '../lib/section-lock.js';
import type { GateMetrics } from '../metrics/gate-metrics.js';

export interface CacheResources {
  readonly metrics: GateMetrics;
  readonly sharedLock: SectionLock;
  readonly logger: Logger;
}

export async function withContentCache(config: Config, resources: CacheResources, upstream: UpstreamBackend): Promise<Backend> {
  if (!config.upstream?.cache) return upstream;
  return openCachingBackend(upstream, {
    dir: config.cache.dir,
    maxBytes: config.cache.maxSize,
    tagTtlMs: config.cache.tagTtl,
    lock: resources.sharedLock,
    logger: resources.logger,
    observer: resources.metrics.cache,
  });
}
