/**
 * The events a /v2/ request causes (src/events/), from what the backend answered, for both backends
 * alike: a manifest stored (PUT answered 201: `push`), deleted (DELETE answered 202: `delete`) or
 * read (GET answered 200: `pull`). Nothing is made when no webhook wants the action in the
 * repository.
 *
 * A push or delete is stored in the queue before the client hears it succeeded: its place is
 * reserved before the backend is asked (a full queue refuses the request, 503, while nothing has
 * changed yet), and the response's bytes are held, once the backend has written its status and
 * headers, until the event is on disk. If it cannot be stored, the connection is destroyed: the
 * client never sees a success nobody will hear of. A pull is stored once it was answered, unless
 * the queue is full (then it is dropped and counted): nobody waits for it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Identity } from '../auth/identity.js';
import type { EventAction, EventFacts, EventSink, Reservation } from '../events/index.js';
import { clientText } from '../events/event.js';
import { RegistryError } from '../oci/errors.js';
import { isDigest } from '../oci/names.js';
import type { Route } from '../oci/route.js';

export interface AnnouncedRequest {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly method: string;
  readonly route: Route;
  readonly identity: Identity;
  readonly client: string;
  /** The manifest, when the gateway read it itself (a protected tag's push). */
  readonly body?: Buffer | undefined;
}

function eventActionOf(route: Route, method: string): EventAction | undefined {
  if (route.kind !== 'manifest') return undefined;
  if (method === 'PUT') return 'push';
  if (method === 'DELETE') return 'delete';
  return method === 'GET' ? 'pull' : undefined;
}

function header(res: ServerResponse, name: string): string | undefined {
  const value = res.getHeader(name);
  return typeof value === 'string' || typeof value === 'number' ? String(value) : undefined;
}

function sizeOf(value: string | undefined): number | undefined {
  return value !== undefined && /^\d{1,15}$/.test(value) ? Number(value) : undefined;
}

function factsOf(request: AnnouncedRequest, action: EventAction): EventFacts {
  const { req, res, route } = request;
  const reference = route.reference;
  const named = isDigest(reference) ? { digest: reference } : { tag: reference };
  const answered = action === 'pull';
  return {
    action,
    repository: route.repository,
    ...named,
    digest: header(res, 'docker-content-digest') ?? named.digest,
    mediaType: action === 'delete' ? undefined : clientText(answered ? header(res, 'content-type') : req.headers['content-type']),
    size:
      action === 'delete'
        ? undefined
        : answered
          ? sizeOf(header(res, 'content-length'))
          : (request.body?.length ?? sizeOf(req.headers['content-length'])),
    user: request.identity.user,
    client: request.client,
    method: request.method,
    host: clientText(req.headers.host),
    userAgent: clientText(req.headers['user-agent']),
  };
}

/**
 * Holds what the backend writes to `res` from its first body write or end, until `stored(status)`
 * settles; undefined from it lets the response through at once. A failure destroys the response.
 */
function holdResponseUntil(
  res: ServerResponse,
  stored: (status: number) => Promise<void> | undefined,
  failed: (error: unknown) => void,
): void {
  const write = res.write.bind(res) as (...args: unknown[]) => boolean;
  const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
  const held: Array<() => void> = [];
  let state: 'undecided' | 'holding' | 'released' = 'undecided';
  const release = () => {
    res.write = write as ServerResponse['write'];
    res.end = end as ServerResponse['end'];
    state = 'released';
    for (const call of held.splice(0)) call();
  };
  const decide = () => {
    const waiting = stored(res.statusCode);
    if (!waiting) {
      release();
      return;
    }
    state = 'holding';
    waiting.then(release, (error: unknown) => {
      failed(error);
      res.destroy();
    });
  };
  res.write = ((...args: unknown[]) => {
    if (state === 'undecided') decide();
    if (state === 'released') return write(...args);
    held.push(() => {
      write(...args);
    });
    return true;
  }) as ServerResponse['write'];
  res.end = ((...args: unknown[]) => {
    if (state === 'undecided') decide();
    if (state === 'released') return end(...args);
    held.push(() => {
      end(...args);
    });
    return res;
  }) as ServerResponse['end'];
}

/**
 * Arranges the request's event, if a webhook wants one. Returns the queue place a push or delete
 * reserved, for the caller to release when the request is done (a no-op once the event used it).
 */
export function announceEvents(events: EventSink, request: AnnouncedRequest, failed: (error: unknown) => void): Reservation | undefined {
  const { res, route, method } = request;
  const action = eventActionOf(route, method);
  if (!action || !events.wants(action, route.repository)) return undefined;
  if (action === 'pull') {
    res.once('finish', () => {
      if (res.statusCode === 200) events.offer(factsOf(request, action));
    });
    return undefined;
  }
  const reservation = events.reserve();
  if (!reservation) throw new RegistryError('UNAVAILABLE', 'the event queue is full: nothing was changed, try again later');
  const success = action === 'push' ? 201 : 202;
  holdResponseUntil(res, (status) => (status === success ? events.record(factsOf(request, action), reservation) : undefined), failed);
  return reservation;
}
