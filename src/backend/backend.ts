/**
 * The seam between the gateway and where content lives. The upstream forwarder and the built-in
 * registry both implement it, so authentication, access rules, headers and logs are the same code
 * in front of either.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Route } from '../oci/route.js';

/**
 * Where a request came from, as the listener saw it: what the pipeline works out who the client is
 * from, and what the upstream forwarder decides which forwarding headers to believe on.
 */
export interface ForwardingFacts {
  /** The direct peer's address. */
  readonly peer: string;
  /** Whether the direct peer is one of trustedProxies, whose forwarded headers are kept. */
  readonly peerTrusted: boolean;
  /** 'https' or 'http' on our own listener. */
  readonly scheme: string;
}

/** What the gateway knows about the request beyond its route, for backends that need it. */
export interface RequestContext extends ForwardingFacts {
  readonly route: Route;
  /** Who asks (the identity stage's Identity): an upstream in token mode names the user in its own token. */
  readonly identity: { readonly user: string | null };
  /** The client's address after applying trustedProxies. */
  readonly clientIp: string;
  /** 'https' or 'http', as the client sees it. */
  readonly proto: string;
  /** The request body, when the gateway had to read it already (a manifest, for a protected-tag check). */
  readonly body?: Buffer | undefined;
  /**
   * A manifest PUT to a protected tag that the caller may create but not move: the backend must
   * write the tag only if it is absent or already names this manifest, else refuse with DENIED.
   * The built-in registry checks and writes in one step; an upstream cannot, so the gateway
   * serialises such pushes and checks again after the write.
   */
  readonly tagMustNotMove?: boolean;
}

/** A manifest as the registry holds it, for the web UI and the protected-tag walk. */
export interface ManifestContent {
  readonly digest: string;
  readonly mediaType: string;
  /** At most MAX_MANIFEST_BYTES. */
  readonly bytes: Buffer;
  /** When the tag (or, by digest, the manifest) was last written, where the storage knows it. */
  readonly pushedAt?: Date | undefined;
}

/** One page of a repository's tags, in lexical order. */
export interface TagPage {
  readonly tags: string[];
  /** More tags follow the last one. */
  readonly more: boolean;
}

/**
 * Programmatic reads (and the one write) beside the HTTP seam: for the web UI, and for the
 * protected-tag walk of a blob delete (access/protected-blobs.ts). Every size is capped; every
 * failure is a RegistryError. The caller has decided already that they are allowed.
 * Function properties, not methods: the upstream backend hands out closures that need no `this`.
 */
export interface ContentReader {
  /** Tags strictly after `after`, at most `limit` (≤ 1000); undefined for an unknown repository. */
  readonly listTags: (repository: string, after: string | undefined, limit: number) => Promise<TagPage | undefined>;
  /** The manifest a tag or digest names, or undefined. */
  readonly readManifest: (repository: string, reference: string) => Promise<ManifestContent | undefined>;
  /** A small blob (an image config): undefined when absent, a 413 RegistryError when over `maxBytes`. */
  readonly readBlob: (repository: string, digest: string, maxBytes: number) => Promise<Buffer | undefined>;
  /**
   * Descriptors of the manifests whose subject is `digest`: the referrers API, or where the
   * registry has none, the referrers tag `<alg>-<hex>` (OCI distribution spec, its fallback).
   */
  readonly listReferrers: (repository: string, digest: string) => Promise<Record<string, unknown>[]>;
  /** Deletes a tag, or a manifest by digest; MANIFEST_UNKNOWN when there is none, UNSUPPORTED when the registry refuses. */
  readonly deleteManifest: (repository: string, reference: string) => Promise<void>;
}

/** Which repository names a catalog shows its caller. */
export interface RepositoryFilter {
  shows(repository: string): boolean;
  /** False when no name starting with `prefix` (which ends in `/`) can be shown: the walk skips them. */
  mayShowUnder(prefix: string): boolean;
}

export interface ScanLimits {
  /** Names to return, at most. */
  readonly names: number;
  /** Entries to look at, at most. */
  readonly budget: number;
}

export interface RepositoryScan {
  /** Names the filter shows, in lexical order. */
  readonly names: string[];
  /** Set when the budget ran out first: every name up to it was looked at (not necessarily a name itself). */
  readonly stoppedAt: string | undefined;
}

export interface Backend extends ContentReader {
  readonly name: string;
  /**
   * Serves one authorized request. It must answer the request (or destroy the response) before the
   * promise settles; a rejected promise with a RegistryError becomes an OCI error response if
   * nothing was sent yet.
   */
  handle(req: IncomingMessage, res: ServerResponse, context: RequestContext): Promise<void>;
  /**
   * Repository names in lexical order, strictly after `after` when given, at most `limit`.
   * Used for the filtered catalog.
   */
  listRepositories(after: string | undefined, limit: number): Promise<string[]>;
  /**
   * The catalog walked with the caller's filter, asked before any read a name would cost (the
   * built-in registry; the upstream's catalog is filtered page by page instead).
   */
  scanRepositories?(after: string | undefined, filter: RepositoryFilter, limits: ScanLimits): Promise<RepositoryScan>;
  /** The digest of the repository's manifest for this tag or digest, or undefined (for protected tags). */
  manifestDigest(repository: string, reference: string): Promise<string | undefined>;
  /**
   * Whether this backend can serve now, for `/readyz`: the storage is writable, or the upstream
   * answers HTTP at all. Cheap enough to call every second or two; never throws.
   */
  ready(): Promise<boolean>;
  close(): Promise<void>;
}
