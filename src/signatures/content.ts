/**
 * What the signatures stage reads of the registry, declared here so that it needs no backend
 * (both backends' ContentReader fits it), and what it makes of a manifest's bytes.
 */
import { createHash } from 'node:crypto';
import { splitDigest } from '../oci/names.js';

export interface SignatureReader {
  /** The manifest a tag or digest names (at most MAX_MANIFEST_BYTES), or undefined. */
  readManifest(repository: string, reference: string): Promise<{ readonly mediaType: string; readonly bytes: Buffer } | undefined>;
  /** A small blob: undefined when absent; throws when over `maxBytes`. */
  readBlob(repository: string, digest: string, maxBytes: number): Promise<Buffer | undefined>;
  /** Tags strictly after `after`, at most `limit`, in lexical order; undefined for an unknown repository. */
  listTags(repository: string, after: string | undefined, limit: number): Promise<{ readonly tags: readonly string[] } | undefined>;
  /** The digest a tag names, or undefined (a HEAD, cheaper than reading the manifest). */
  manifestDigest(repository: string, reference: string): Promise<string | undefined>;
  /** Descriptors of the manifests whose subject is `digest` (the referrers API, or its fallback tag). */
  listReferrers(repository: string, digest: string): Promise<Record<string, unknown>[]>;
}

const HASHES: Readonly<Record<string, string>> = { sha256: 'sha256', sha384: 'sha384', sha512: 'sha512' };

/** Whether `bytes` are the content `digest` names: computed here, never taken from a header. */
export function hasDigest(bytes: Buffer, digest: string): boolean {
  const parts = splitDigest(digest);
  const hash = parts && HASHES[parts.algorithm];
  return hash !== undefined && parts !== undefined && createHash(hash).update(bytes).digest('hex') === parts.encoded;
}

export type Json = Record<string, unknown>;

export function asObject(value: unknown): Json | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}

/** A manifest's JSON object, or undefined when its bytes are not one. */
export function manifestObject(bytes: Buffer): Json | undefined {
  try {
    return asObject(JSON.parse(bytes.toString('utf8')));
  } catch {
    return undefined;
  }
}

/** The entries of a list field (`layers`, `manifests`) that are objects, at most `limit` of them; `more` when there were others. */
export function entriesOf(manifest: Json, field: string, limit: number): { readonly entries: Json[]; readonly more: boolean } {
  const list = manifest[field];
  if (!Array.isArray(list)) return { entries: [], more: false };
  const entries: Json[] = [];
  for (const entry of list.slice(0, limit)) {
    const object = asObject(entry);
    if (object) entries.push(object);
  }
  return { entries, more: list.length > limit };
}
