/**
 * Where everything lives under `storage.root`. Every path the built-in registry touches is built
 * here and nowhere else.
 *
 *   <root>/
 *   ├── blobs/                                  content-addressed, shared by all repositories
 *   │   ├── sha256/<hex[0:2]>/<hex>             the bytes of one blob (layers, configs AND manifests);
 *   │   └── sha512/<hex[0:2]>/<hex>             the file name is the digest of its content
 *   ├── repositories/
 *   │   └── <name…>/                            `library/ubuntu` → repositories/library/ubuntu/
 *   │       ├── _layers/<alg>/<hex>             empty file: this repository holds the blob (pull, mount
 *   │       │                                   and manifest checks are scoped by these links)
 *   │       ├── _manifests/<alg>/<hex>          this repository holds the manifest; the file contains
 *   │       │                                   its media type (the Content-Type it is served with)
 *   │       ├── _tags/<tag>                     the digest the tag points to
 *   │       └── _referrers/<alg>/<hex>/         the manifests whose `subject` is <alg>:<hex>:
 *   │           └── <alg>-<hex>.json            one referrer's descriptor, as the referrers API lists it
 *   ├── uploads/
 *   │   └── <uuid>/                             one blob upload session
 *   │       ├── data                            the bytes received so far (may run past `offset` after
 *   │       │                                   a crash; truncated back on the next request)
 *   │       └── state.json                      {repository, startedAt, offset}: `offset` counts only
 *   │                                           bytes that were fsynced and acknowledged
 *   └── _tmp/                                   files being written; renamed into place when complete
 *       └── gc/<path under root>                what `gc` sets aside for a moment before deleting it
 *
 * Repository name components match `[a-z0-9]+…`, so they never collide with the `_`-prefixed
 * folders. Nothing becomes visible before it is complete: every file is written under `_tmp/` (or
 * inside its upload folder), fsynced, renamed into place, and its folder fsynced. A blob is served
 * to a repository only when both its `_layers` (or `_manifests`) link and its file under `blobs/`
 * exist; a tag only when the manifest it names is linked too.
 */
import { join } from 'node:path';
import { tryParseDigest, type Digest } from './digest.js';

export class StorageLayout {
  readonly blobsDir: string;
  readonly repositoriesDir: string;
  readonly uploadsDir: string;
  readonly tmpDir: string;
  readonly gcAsideDir: string;

  constructor(readonly root: string) {
    this.blobsDir = join(root, 'blobs');
    this.repositoriesDir = join(root, 'repositories');
    this.uploadsDir = join(root, 'uploads');
    this.tmpDir = join(root, '_tmp');
    this.gcAsideDir = join(this.tmpDir, 'gc');
  }

  blob(digest: Digest): string {
    return join(this.blobsDir, digest.algorithm, digest.hex.slice(0, 2), digest.hex);
  }

  repository(name: string): string {
    return join(this.repositoriesDir, ...name.split('/'));
  }

  layersDir(name: string): string {
    return join(this.repository(name), '_layers');
  }

  layerLink(name: string, digest: Digest): string {
    return join(this.layersDir(name), digest.algorithm, digest.hex);
  }

  manifestsDir(name: string): string {
    return join(this.repository(name), '_manifests');
  }

  manifestLink(name: string, digest: Digest): string {
    return join(this.manifestsDir(name), digest.algorithm, digest.hex);
  }

  tagsDir(name: string): string {
    return join(this.repository(name), '_tags');
  }

  tag(name: string, tag: string): string {
    return join(this.tagsDir(name), tag);
  }

  referrersRoot(name: string): string {
    return join(this.repository(name), '_referrers');
  }

  referrersDir(name: string, subject: Digest): string {
    return join(this.referrersRoot(name), subject.algorithm, subject.hex);
  }

  referrerEntry(name: string, subject: Digest, referrer: Digest): string {
    return join(this.referrersDir(name, subject), referrerEntryName(referrer));
  }

  upload(id: string): string {
    return join(this.uploadsDir, id);
  }

  uploadData(id: string): string {
    return join(this.upload(id), 'data');
  }

  uploadState(id: string): string {
    return join(this.upload(id), 'state.json');
  }
}

/** The name of one referrer's entry in its subject's `_referrers/<alg>/<hex>/` folder: `<alg>-<hex>.json`. */
export function referrerEntryName(referrer: Digest): string {
  return `${referrer.algorithm}-${referrer.hex}.json`;
}

const REFERRER_ENTRY = /^(sha256|sha512)-([a-f0-9]+)\.json$/;

/** The referrer an entry of a `_referrers/` folder names; undefined for any other file found there. */
export function referrerOfEntry(name: string): Digest | undefined {
  const match = REFERRER_ENTRY.exec(name);
  return match ? tryParseDigest(`${match[1]}:${match[2]}`) : undefined;
}

/** Folder names inside a repository folder that are not child repositories. */
export const REPOSITORY_MARKERS = ['_layers', '_manifests', '_tags'] as const;
