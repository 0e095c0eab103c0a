/**
 * Metrics with several worker processes: each worker counts its own requests, and the primary —
 * which alone listens on `metrics.listen` — asks every worker for its metrics at each scrape and
 * serves their sum (prom-client's AggregatorRegistry, over the cluster's IPC channel). So a scrape
 * sees the whole server, not whichever worker the kernel handed the connection to.
 */
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { MetricsSource } from './listener.js';

/** In a worker: answer the primary's requests for this registry's metrics. */
export function shareWithPrimary(registry: Registry): void {
  AggregatorRegistry.setRegistries([registry]);
  new AggregatorRegistry(); // installs the worker's IPC listener (once per process)
}

/** In the primary: the workers' metrics, added up, at each scrape. */
export function workersMetrics(): MetricsSource {
  const aggregator = new AggregatorRegistry();
  return {
    text: () => aggregator.clusterMetrics(),
    contentType: aggregator.contentType,
  };
}
