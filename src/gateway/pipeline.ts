/**
 * One request, end to end: route → identity → decision → backend. Each stage is a plain call;
 * every failure is a RegistryError answered as OCI error JSON; every response under /v2/ carries
 * exactly one Docker-Distribution-Api-Version header.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Loggers } from '../log.js';
import type { Authenticate } from '../auth/authenticate.js';
import type { AccessPolicy } from '../access/policy.js';
import type { Backend, RequestContext } from '../backend/backend.js';
import { RegistryError, sendError, toRegistryError } from '../errors.js';
import { requiredAccess } from './actions.js';
import { listVisibleRepositories, sendCatalog } from './catalog.js';
import { API_VERSION, API_VERSION_HEADER, clientAddress, clientProto, isLegacyDockerClient } from './headers.js';
import { routeFromUrl, type Route } from './route.js';
import { withoutUnauthorizedMount } from './mount.js';
import type { AddressMatcher } from './cidr.js';
import { normalizeIp } from './cidr.js';
import { logAccess } from './access-log.js';


export interface GatewayOptions {
  readonly realm: string;
  readonly rejectLegacyDocker: boolean;
  readonly trustedProxy: AddressMatcher;
  readonly scheme: 'http' | 'https';
  readonly authenticate: Authenticate;
  readonly policy: AccessPolicy;
  readonly backend: Backend;
  readonly loggers: Loggers;
  readonly accessLog: boolean;
}

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

export function createGateway(options: GatewayOptions): RequestHandler {
  const challenge = `Basic realm="${options.realm}"`;
  const unauthorized = () => new RegistryError('UNAUTHORIZED', undefined, { headers: { 'WWW-Authenticate': challenge } });

  async function serve(req: IncomingMessage, res: ServerResponse, state: { user: string | null }): Promise<void> {
    const method = req.method ?? 'GET';
    res.setHeader(API_VERSION_HEADER, API_VERSION);
    if (options.rejectLegacyDocker && isLegacyDockerClient(req.headers['user-agent'])) {
      throw new RegistryError('NOT_FOUND', 'this client is too old (docker < 1.6)');
    }
    const route = routeFromUrl(req.url ?? '/');
    const needed = requiredAccess(route, method);
    if (needed.kind === 'unsupported') throw new RegistryError('UNSUPPORTED', `${method} is not supported here`);

    const identity = await options.authenticate(req.headers.authorization);
    if (identity === 'invalid') throw unauthorized();
    state.user = identity.user;
    const refuse = () => (identity.user === null ? unauthorized() : new RegistryError('DENIED'));

    if (needed.kind === 'authenticate-only') {
      if (identity.user === null && !options.policy.mayEver(identity, 'pull')) throw unauthorized();
      res.setHeader('Content-Type', 'application/json; charset=utf-8');
      res.setHeader('Content-Length', 2);
      res.end(method === 'HEAD' ? undefined : '{}');
      return;
    }
    if (needed.kind === 'catalog') {
      if (!options.policy.mayEver(identity, 'pull')) throw refuse();
      const page = await listVisibleRepositories(options.backend, options.policy, identity, new URLSearchParams(route.rawQuery));
      await sendCatalog(res, method, page);
      return;
    }
    if (!options.policy.decide(identity, route.repository, needed.action).allowed) throw refuse();
    const authorizedRoute: Route = route.kind === 'upload-start' ? withoutUnauthorizedMount(route, identity, options.policy) : route;

    const peer = normalizeIp(req.socket.remoteAddress ?? '');
    const facts = { peer, peerTrusted: options.trustedProxy(peer), scheme: options.scheme };
    const context: RequestContext = {
      route: authorizedRoute,
      identity,
      clientIp: clientAddress(req.headers, facts),
      proto: clientProto(req.headers, facts),
      ...facts,
    };
    await options.backend.handle(req, res, context);
  }

  return (req, res) => {
    const started = process.hrtime.bigint();
    const state: { user: string | null } = { user: null };
    if (options.accessLog) logAccess(options.loggers.access, req, res, started, state, options.trustedProxy, options.scheme);
    serve(req, res, state).catch((error: unknown) => {
      const failure = toRegistryError(error);
      if (failure.code === 'INTERNAL_ERROR') options.loggers.app.error({ err: error }, 'request failed');
      // An unread request body would otherwise be parsed as the next request on this connection.
      if (!req.complete) res.setHeader('Connection', 'close');
      sendError(res, failure, req.method);
    });
  };
}
