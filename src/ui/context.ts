/** What every UI handler gets: the request, who is asking, and how to answer. */
import type { WebhookStatus } from '../events/index.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { CatalogPaging } from '../access/catalog.js';
import type { AuditRecord, AuditSink } from '../access/audit.js';
import type { AccessPolicy } from '../access/policy.js';
import type { Authenticate } from '../auth/authenticate.js';
import type { Credentials, Identity } from '../auth/identity.js';
import type { RefreshIdentity } from '../auth/token/refresh-subject.js';
import type { PersonalTokens } from '../auth/personal-tokens/provider.js';
import type { OidcSignIn } from '../auth/owner-credentials.js';
import type { Backend } from '../backend/backend.js';
import type { SectionLock } from '../lib/section-lock.js';
import type { UiDecisions } from './decide.js';
import type { Html } from './html.js';
import type { Frame } from './pages/layout.js';
import type { RevokedSessions } from './revoked-sessions.js';
import type { Session, SessionKeys } from './session.js';
import type { StaticAssets } from './static-assets.js';

export interface UiOptions {
  readonly policy: AccessPolicy;
  readonly backend: Backend;
  readonly audit: AuditSink;
  /** The gateway's Basic-mode authentication: used here for a trusted SSO proxy's headers only. */
  readonly authenticate: Authenticate;
  /** The cached, throttled provider chain with groups: what the login form checks. */
  readonly verifyPassword: (credentials: Credentials) => Promise<Identity | null>;
  /** A session's subject, asked of its provider again on every request. */
  readonly refreshIdentity: RefreshIdentity;
  /**
   * The robot store (auth.token.robots), a way to make the running server see a change now, and
   * one to tell every replica of a revocation (through Redis, as `token revoke` does).
   */
  readonly robots: {
    readonly file: string;
    reload(): Promise<void>;
    revoked(robot: { readonly id: string; readonly expires: string | null }): Promise<void>;
  };
  readonly adminGroup?: string | undefined;
  /** Each webhook's recent tries, when `events.webhooks` names one: the admins' webhooks page. */
  readonly webhooks?: (() => readonly WebhookStatus[]) | undefined;
  /** Personal access tokens (auth.tokens): the UI makes, lists and revokes them. */
  readonly personalTokens: PersonalTokens;
  /** Sign-in through the OpenID provider (auth.oidc), when configured. */
  readonly oidc?: OidcSignIn | undefined;
  readonly sessionTtlMs: number;
  /** Where the session key and revoked sessions live (dataDir/ui). */
  readonly stateDir: string;
  /** The server's process-shared lock (the one the pipeline uses for protected tags). */
  readonly lock: SectionLock;
  /** The filtered catalog's paging (scan limit, sealed cursors), shared with /v2/_catalog. */
  readonly catalog: CatalogPaging;
  /** How long a form's body may take to arrive (`server.bodyTimeout`). */
  readonly bodyTimeoutMs: number;
  /** The registry a repository is a read-only mirror of (its origin), for names a mirror serves. */
  readonly mirrorOf?: ((repository: string) => string | undefined) | undefined;
  readonly logger: Logger;
}

/** What the gateway resolved about the caller before handing the request to the UI. */
export interface UiCaller {
  readonly clientIp: string;
  /** From a trusted SSO proxy only. */
  readonly ssoUser?: string | undefined;
  readonly ssoGroups?: string | undefined;
  /** `https` or `http`, as the browser sees it (the listener, or a trusted proxy's X-Forwarded-Proto). */
  readonly proto: string;
}

export interface UiServices {
  readonly options: UiOptions;
  readonly decisions: UiDecisions;
  readonly keys: SessionKeys;
  readonly revoked: RevokedSessions;
  readonly assets: StaticAssets;
}

export interface UiRequest {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly method: string;
  readonly query: URLSearchParams;
  readonly identity: Identity;
  readonly session: Session | undefined;
  readonly caller: UiCaller;
  /** Cookies are Secure (and `__Host-`): the browser reached us over https. */
  readonly secure: boolean;
  readonly frame: Frame;
  readonly services: UiServices;
  /** The form of a POST, once its CSRF token was checked. */
  readonly form: URLSearchParams;
  /** Renders a page (status, Html) with the request's cookies. */
  page(status: number, page: Html): void;
  redirect(location: string): void;
  /** One audit record for something done or refused through the UI. */
  audit(record: Omit<AuditRecord, 'user' | 'groups' | 'via' | 'client' | 'source'>): void;
}
