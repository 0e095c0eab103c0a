/**
 * The built-in OCI Distribution v1.1 registry, on a local filesystem (layout in ./layout.ts).
 *
 * Everything the gateway decided stays decided: this backend receives only authenticated,
 * authorized requests (with unauthorized mount sources already removed from the route) and knows
 * nothing about users.
 */
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { SectionLock } from '../../lib/section-lock.js';
import type { Backend } from '../backend.js';
import { BlobStore } from './blob-store.js';
import { filesystemContentReader } from './content-reader.js';
import { dispatch } from './dispatch.js';
import { mkdirDurable } from '../../lib/atomic-write.js';
import { StorageLayout } from './layout.js';
import { ManifestStore } from './manifest-store.js';
import { listRepositoryNames, scanRepositoryNames } from './repositories.js';
import type { Stores } from './stores.js';
import { UploadStore } from './upload-store.js';

export { runGc, type GcOptions, type GcReport } from './gc.js';

export interface FilesystemBackendOptions {
  readonly root: string;
  /** Upload sessions without activity for this long are deleted. */
  readonly uploadMaxAgeMs: number;
  /** How long a manifest's body may take to arrive (`server.bodyTimeout`). */
  readonly bodyTimeoutMs: number;
  readonly logger: Logger;
  /**
   * Orders the requests of one upload session. Under `workers` it must be shared by every worker
   * (the cluster lock), since consecutive requests of one upload may reach different workers.
   * Default: an in-process lock.
   */
  readonly uploadLock?: SectionLock;
}

const MAX_SWEEP_INTERVAL_MS = 60 * 60 * 1000;
const MIN_SWEEP_INTERVAL_MS = 1000;

export async function createFilesystemBackend(options: FilesystemBackendOptions): Promise<Backend> {
  const layout = new StorageLayout(resolve(options.root));
  for (const dir of [layout.blobsDir, layout.repositoriesDir, layout.uploadsDir, layout.tmpDir]) await mkdirDurable(dir);
  const logger = options.logger;
  const blobs = new BlobStore(layout);
  const stores: Stores = {
    layout,
    blobs,
    manifests: new ManifestStore(layout, blobs),
    uploads: new UploadStore(layout, blobs, logger, options.uploadLock),
    logger,
    bodyTimeoutMs: options.bodyTimeoutMs,
  };

  let sweeping: Promise<void> = Promise.resolve();
  const sweep = (): void => {
    sweeping = sweeping
      .then(() => stores.uploads.removeAbandoned(options.uploadMaxAgeMs))
      .then((removed) => {
        if (removed > 0) logger.info({ removed }, 'removed abandoned uploads');
      })
      .catch((error: unknown) => logger.warn({ err: error }, 'sweeping abandoned uploads failed'));
  };
  const interval = Math.min(MAX_SWEEP_INTERVAL_MS, Math.max(MIN_SWEEP_INTERVAL_MS, Math.floor(options.uploadMaxAgeMs / 2)));
  logger.info({ root: layout.root, uploadMaxAgeMs: options.uploadMaxAgeMs }, 'built-in registry storage ready');
  const timer = setInterval(sweep, interval);
  timer.unref();
  sweep();

  return {
    name: 'filesystem',
    ...filesystemContentReader(stores),
    async handle(req, res, context) {
      await dispatch(stores, req, res, context.route, context.body, context.tagMustNotMove);
    },
    listRepositories: (after, limit) => listRepositoryNames(layout.repositoriesDir, after, limit),
    scanRepositories: (after, filter, limits) => scanRepositoryNames(layout.repositoriesDir, after, filter, limits),
    async manifestDigest(repository, reference) {
      return (await stores.manifests.resolve(repository, reference))?.digest.value;
    },
    async ready() {
      // Every write starts in tmp/ (then fsync, rename): if it can be written to, pushes can land.
      return access(layout.tmpDir, constants.W_OK).then(
        () => true,
        () => false,
      );
    },
    async close() {
      clearInterval(timer);
      await sweeping;
    },
  };
}
