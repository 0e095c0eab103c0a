/**
 * What the content cache counts (`upstream.cache`, mirrors): reads answered from it or not, the bytes
 * it fetched, content it evicted or refused because it did not match its digest, reads served stale
 * while the registry behind failed, and its size. Kept in
 * the gate's registry; labels are the kind of content only.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

export type CachedKind = 'blobs' | 'manifests';

export class CacheMetrics {
  readonly #requests: Counter<'kind' | 'result'>;
  readonly #fetchedBytes: Counter;
  readonly #evictions: Counter;
  readonly #evictedBytes: Counter;
  readonly #mismatches: Counter;
  readonly #size: Gauge;
  readonly #staleServes: Counter<'kind'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.#requests = new Counter({
      name: 'registry_gate_cache_requests_total',
      help: 'Blob and manifest reads through the content cache, by kind (blobs, manifests) and result (hit: answered from disk; miss: fetched or forwarded).',
      labelNames: ['kind', 'result'] as const,
      registers,
    });
    this.#fetchedBytes = new Counter({
      name: 'registry_gate_cache_upstream_bytes_total',
      help: 'Content bytes the cache fetched from the upstream.',
      registers,
    });
    this.#evictions = new Counter({
      name: 'registry_gate_cache_evictions_total',
      help: 'Cached files removed to stay within cache.maxSize.',
      registers,
    });
    this.#evictedBytes = new Counter({
      name: 'registry_gate_cache_evicted_bytes_total',
      help: 'Bytes removed to stay within cache.maxSize.',
      registers,
    });
    this.#mismatches = new Counter({
      name: 'registry_gate_cache_digest_mismatches_total',
      help: 'Fills refused because the upstream sent bytes that did not match their digest.',
      registers,
    });
    this.#staleServes = new Counter({
      name: 'registry_gate_cache_stale_serves_total',
      help: 'Reads answered from what the upstream or a mirrored registry said before, because it was failing (refused, timed out, 5xx, 429), by kind (blobs, manifests, tags).',
      labelNames: ['kind'] as const,
      registers,
    });
    this.#size = new Gauge({
      name: 'registry_gate_cache_size_bytes',
      help: 'Bytes of content in the cache (with workers: the largest any worker counts).',
      aggregator: 'max',
      registers,
    });
  }

  hit(kind: CachedKind): void {
    this.#requests.inc({ kind, result: 'hit' });
  }

  miss(kind: CachedKind): void {
    this.#requests.inc({ kind, result: 'miss' });
  }

  fetched(bytes: number): void {
    this.#fetchedBytes.inc(bytes);
  }

  evicted(bytes: number): void {
    this.#evictions.inc();
    this.#evictedBytes.inc(bytes);
  }

  mismatch(): void {
    this.#mismatches.inc();
  }

  stale(kind: CachedKind | 'tags'): void {
    this.#staleServes.inc({ kind });
  }

  size(bytes: number): void {
    this.#size.set(bytes);
  }
}
