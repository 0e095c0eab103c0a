/**
 * One request as the pipeline's steps see it, growing as they run (an Exchange, then Routed, then
 * Identified), and the options the gateway was made with, which every step reads through it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Loggers } from '../log.js';
import type { Authenticate } from '../auth/authenticate.js';
import type { Identity } from '../auth/identity.js';
import type { AccessPolicy } from '../access/policy.js';
import type { AuditSink } from '../access/audit.js';
import type { Backend, ForwardingFacts } from '../backend/backend.js';
import type { Route } from '../oci/route.js';
import type { MirrorRoute } from '../backend/mirrors/index.js';
import type { SectionLock } from '../lib/section-lock.js';
import type { AddressMatcher } from '../lib/ip.js';
import type { GateMetrics } from '../metrics/gate-metrics.js';
import type { Challenge } from './challenge.js';
import type { CallerFacts, TokenEndpoint } from './token-endpoint.js';
import type { RequiredAccess } from './actions.js';
import type { CatalogPaging } from '../access/catalog.js';
import type { HealthEndpoint } from './health.js';
import type { EventSink } from '../events/index.js';
import type { SignaturePolicies } from '../signatures/index.js';

export interface GatewayOptions {
  /** `bearer`: every /v2/ request needs a token from the token endpoint (Docker token flow). */
  readonly scheme: 'basic' | 'bearer';
  readonly challenge: Challenge;
  /** Serves /healthz and /readyz, without credentials. */
  readonly health?: HealthEndpoint | undefined;
  /** Serves /auth/token and /auth/jwks when the token service is on. */
  readonly tokenEndpoint?: TokenEndpoint | undefined;
  /** The web UI (src/ui/) when it is on: it answers its own paths (/ui/…, and / with a redirect). */
  readonly ui?:
    | {
        matches(url: string): boolean;
        handle(req: IncomingMessage, res: ServerResponse, caller: CallerFacts & { proto: string }): Promise<string | null>;
      }
    | undefined;
  readonly rejectLegacyDocker: boolean;
  readonly trustedProxy: AddressMatcher;
  readonly listenerScheme: 'http' | 'https';
  readonly authenticate: Authenticate;
  /** SSO proxy headers, honoured only from trusted peers and removed from everyone else's requests. */
  readonly trustedHeader?: { readonly user: string; readonly groups?: string | undefined } | undefined;
  readonly policy: AccessPolicy;
  /** Signature policies (`signatures`): manifest pulls in the repositories they cover need a signature. */
  readonly signatures?: SignaturePolicies | undefined;
  readonly backend: Backend;
  /** The mirrors' routes: a containerd request's `?ns=` names the mirror, and the name it is decided on. */
  readonly mirrors?: readonly MirrorRoute[] | undefined;
  /** Serialises first pushes of a protected tag across this server's processes (and replicas, with Redis). */
  readonly tagLock: SectionLock;
  readonly audit: AuditSink;
  readonly loggers: Loggers;
  readonly accessLog: boolean;
  /** The filtered catalog's scan limit and page tokens. */
  readonly catalog: CatalogPaging;
  /** How long a body the gateway reads itself (a manifest, for a protected-tag check) may take to arrive. */
  readonly bodyTimeoutMs: number;
  /** The webhooks' queue (src/events/), when `events.webhooks` names one: pushes, deletes and pulls are announced. */
  readonly events?: EventSink | undefined;
  /** Counts every request once it is done, and uploads while they run. */
  readonly metrics?: Pick<GateMetrics, 'requestFinished' | 'uploadStarted'> | undefined;
}

/** What the access log needs to know about a request once the pipeline has run. */
export interface RequestState {
  user: string | null;
  client: string;
  /** For metrics: the route kind, `token`, `ui` or `health` once known; `unknown` for what never parsed. */
  kind: string;
}

export type Caller = CallerFacts & { readonly clientIp: string };

/** One registry API request as the steps see it, growing as they run: routed, then identified. */
export interface Exchange {
  readonly options: GatewayOptions;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly method: string;
  readonly facts: ForwardingFacts;
  readonly state: RequestState;
  readonly caller: Caller;
  readonly proto: string;
}

export interface Routed extends Exchange {
  readonly route: Route;
  readonly needed: Exclude<RequiredAccess, { kind: 'unsupported' }>;
}

export interface Identified extends Routed {
  readonly identity: Identity;
}
