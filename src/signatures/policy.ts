/**
 * One signature policy: which repositories it covers, its keys, its mode, and the verdict on a
 * manifest (cached, ./verdict-cache.ts). A manifest passes when
 *
 * - a cosign signature by one of the keys covers its digest in this repository (./cosign.ts);
 * - or, when the policy opts in (`referrers`), a sigstore bundle by one of the keys, attached to it
 *   as an OCI 1.1 referrer in this repository, covers its digest (./referrers.ts; the bundle names
 *   no repository, so it binds the digest only);
 * - or it is listed by a signed image index of this repository: an index's verdict remembers its
 *   entries (at most SIGNATURE_LIMITS.indexChildren), so a client that pulls the index and then a
 *   platform's manifest by digest passes. A manifest pulled by digest with no such verdict at hand
 *   (another worker or replica made it, or it expired) is looked for in the signed manifests of the
 *   repository, through their signature tags: at most SIGNATURE_LIMITS.tagsListed tags listed and
 *   SIGNATURE_LIMITS.parentsRead indexes read, else it is not signed;
 * - or it is a signature itself (an image manifest whose layers all hold cosign payloads, sigstore
 *   bundles or DSSE envelopes, read and checked: ./artifact.ts): `cosign verify` must read
 *   signatures, and no runtime can run one.
 */
import type { KeyObject } from 'node:crypto';
import { compileRepositoryPattern, type RepositoryPattern } from '../access/pattern.js';
import { INDEX_MANIFEST_TYPES } from '../oci/media-types.js';
import { SIGNATURE_LIMITS } from '../lib/work-budget.js';
import { cosignSignature, signatureTag, unlessTooLarge, type SignatureOutcome } from './cosign.js';
import { entriesOf, hasDigest, manifestObject, type Json, type SignatureReader } from './content.js';
import { VerdictCache } from './verdict-cache.js';
import { isSignatureArtifact } from './artifact.js';
import { BUNDLE_MEDIA_TYPES, type SignedManifest } from './bundle.js';
import { referrerBundleSignature } from './referrers.js';

const SIGNATURE_TAG = /^sha256-[0-9a-f]{64}\.sig$/;

export type SignatureMode = 'enforce' | 'audit';

export interface SignatureVerdict {
  readonly policy: string;
  readonly mode: SignatureMode;
  readonly outcome: SignatureOutcome;
}

/** The referrers tag of Distribution (`sha256-<hex>`): an index listing only sigstore bundles, which a verifier must read. */
function isBundleList(manifest: Json): boolean {
  const { entries, more } = entriesOf(manifest, 'manifests', SIGNATURE_LIMITS.indexChildren);
  return !more && entries.length > 0 && entries.every((entry) => BUNDLE_MEDIA_TYPES.has(String(entry.artifactType)));
}

function isIndex(manifest: Json, mediaType: string): boolean {
  return INDEX_MANIFEST_TYPES.has(mediaType) || INDEX_MANIFEST_TYPES.has(String(manifest.mediaType)) || Array.isArray(manifest.manifests);
}

function childDigests(index: Json): string[] {
  return entriesOf(index, 'manifests', SIGNATURE_LIMITS.indexChildren).entries.flatMap((entry) =>
    typeof entry.digest === 'string' ? [entry.digest] : [],
  );
}

export interface SignaturePolicyOptions {
  readonly name: string;
  readonly repository: string;
  readonly mode: SignatureMode;
  /** Whether sigstore bundles attached as referrers count (they bind the digest, not the repository). */
  readonly referrers: boolean;
}

export class SignaturePolicy {
  readonly #pattern: RepositoryPattern;
  readonly #cache = new VerdictCache();
  readonly name: string;
  readonly mode: SignatureMode;
  readonly #referrers: boolean;

  constructor(
    { name, repository, mode, referrers }: SignaturePolicyOptions,
    private readonly keys: () => readonly KeyObject[],
  ) {
    this.name = name;
    this.mode = mode;
    this.#referrers = referrers;
    this.#pattern = compileRepositoryPattern(repository);
  }

  covers(repository: string): boolean {
    return this.#pattern.matches(repository, null, []);
  }

  /** The keys changed. */
  keysChanged(): void {
    this.#cache.clear();
  }

  /** A manifest of `repository` was written or deleted through the gateway. */
  signaturesChanged(repository: string): void {
    this.#cache.dropRepository(repository);
  }

  /** The verdict on the manifest `digest` of `repository`; undefined when there is no such manifest. */
  async verdict(reader: SignatureReader, repository: string, digest: string): Promise<SignatureVerdict | undefined> {
    const cached = this.#cache.get(repository, digest);
    if (cached) return { policy: this.name, mode: this.mode, outcome: cached };
    const generation = this.#cache.generation(repository);
    const manifest = await reader.readManifest(repository, digest);
    if (!manifest || !hasDigest(manifest.bytes, digest)) return undefined;
    const parsed = manifestObject(manifest.bytes) ?? {};
    let outcome = await this.#signedItself(reader, repository, { digest, bytes: manifest.bytes }, parsed, manifest.mediaType, generation);
    const isSignature = async () =>
      isBundleList(parsed) || (!isIndex(parsed, manifest.mediaType) && (await isSignatureArtifact(reader, repository, parsed)));
    if (!outcome.signed && (await isSignature())) outcome = { signed: true };
    if (!outcome.signed) outcome = (await this.#signedThroughIndex(reader, repository, digest, generation)) ?? outcome;
    this.#cache.set(repository, digest, outcome, generation);
    return { policy: this.name, mode: this.mode, outcome };
  }

  /** Its own cosign signature, or bundle when the policy takes them; a signed index vouches for its entries (remembered as signed). */
  async #signedItself(
    reader: SignatureReader,
    repository: string,
    signed: SignedManifest,
    manifest: Json,
    mediaType: string,
    generation: number,
  ): Promise<SignatureOutcome> {
    let outcome = await cosignSignature(reader, repository, signed.digest, this.keys());
    if (!outcome.signed && this.#referrers) {
      const bundle = await referrerBundleSignature(reader, repository, signed, this.keys());
      outcome = bundle.signed ? bundle : { signed: false, why: `${outcome.why}; referrers: ${bundle.why}` };
    }
    if (outcome.signed && isIndex(manifest, mediaType)) {
      for (const child of childDigests(manifest)) this.#cache.set(repository, child, outcome, generation);
    }
    return outcome;
  }

  /** A signed index of the repository that lists `digest`, found through the signature tags (bounded); undefined when none is. */
  async #signedThroughIndex(
    reader: SignatureReader,
    repository: string,
    digest: string,
    generation: number,
  ): Promise<SignatureOutcome | undefined> {
    const page = await reader.listTags(repository, 'sha256-', SIGNATURE_LIMITS.tagsListed);
    const candidates = (page?.tags ?? []).filter((tag) => SIGNATURE_TAG.test(tag) && tag !== signatureTag(digest));
    let read = 0;
    for (const tag of candidates) {
      if (read >= SIGNATURE_LIMITS.parentsRead) return undefined;
      const parentDigest = `sha256:${tag.slice('sha256-'.length, -'.sig'.length)}`;
      read += 1;
      const parent = await unlessTooLarge(reader.readManifest(repository, parentDigest));
      if (parent === 'too large' || !parent || !hasDigest(parent.bytes, parentDigest)) continue;
      const parsed = manifestObject(parent.bytes);
      if (!parsed || !isIndex(parsed, parent.mediaType)) continue;
      if (!childDigests(parsed).includes(digest)) continue;
      const signed = { digest: parentDigest, bytes: parent.bytes };
      const outcome = await this.#signedItself(reader, repository, signed, parsed, parent.mediaType, generation);
      this.#cache.set(repository, parentDigest, outcome, generation);
      if (outcome.signed) return outcome;
    }
    return undefined;
  }
}
