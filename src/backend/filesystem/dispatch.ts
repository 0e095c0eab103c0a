/** Which handler answers a (route kind, method) pair; anything else is 405 with an Allow header. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RegistryError } from '../../oci/errors.js';
import type { Route, RouteKind } from '../../oci/route.js';
import { deleteBlob, getBlob } from './blob-handlers.js';
import { listReferrers, listTags } from './listing-handlers.js';
import { deleteManifest, getManifest, putManifest } from './manifest-handlers.js';
import type { Stores } from './stores.js';
import { cancelUpload, completeUpload, patchUpload, startUpload, uploadStatus } from './upload-handlers.js';

type Handler = (
  stores: Stores,
  req: IncomingMessage,
  res: ServerResponse,
  route: Route,
  body?: Buffer,
  tagMustNotMove?: boolean,
) => Promise<void>;

const HANDLERS: Partial<Record<RouteKind, Record<string, Handler>>> = {
  tags: { GET: listTags, HEAD: listTags },
  referrers: { GET: listReferrers, HEAD: listReferrers },
  manifest: { GET: getManifest, HEAD: getManifest, PUT: putManifest, DELETE: deleteManifest },
  blob: { GET: getBlob, HEAD: getBlob, DELETE: deleteBlob },
  'upload-start': { POST: startUpload },
  upload: { GET: uploadStatus, HEAD: uploadStatus, PATCH: patchUpload, PUT: completeUpload, DELETE: cancelUpload },
};

export function dispatch(
  stores: Stores,
  req: IncomingMessage,
  res: ServerResponse,
  route: Route,
  body?: Buffer,
  tagMustNotMove?: boolean,
): Promise<void> {
  const methods = HANDLERS[route.kind];
  if (!methods) throw new RegistryError('NOT_FOUND', 'not served by the registry backend');
  const method = req.method ?? 'GET';
  const handler = methods[method];
  if (!handler) {
    throw new RegistryError('UNSUPPORTED', `${method} is not supported here`, { headers: { Allow: Object.keys(methods).join(', ') } });
  }
  return handler(stores, req, res, route, body, tagMustNotMove);
}
