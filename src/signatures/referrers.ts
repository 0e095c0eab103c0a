/**
 * Sigstore bundles attached to a manifest as OCI 1.1 referrers (sigstore/cosign specs/BUNDLE_SPEC.md):
 * a manifest whose `subject` is the signed one, `artifactType` the bundle media type, and one
 * layer, the bundle's JSON. The backend lists them (the referrers API on the built-in registry, the
 * referrers tag `sha256-<hex>` in front of Distribution, which has no such API).
 *
 * Bounded by constants, whatever was pushed: at most SIGNATURE_LIMITS.referrersRead referrer
 * manifests read (those that say they are bundles first), the first layer of each, a bundle of at
 * most SIGNATURE_LIMITS.bundleBytes; nothing in a referrer is followed further.
 */
import type { KeyObject } from 'node:crypto';
import { SIGNATURE_LIMITS } from '../lib/work-budget.js';
import { isDigest } from '../oci/names.js';
import { BUNDLE_MEDIA_TYPES, bundleProblem, type SignedManifest } from './bundle.js';
import { unlessTooLarge, type SignatureOutcome } from './cosign.js';
import { asObject, entriesOf, hasDigest, manifestObject, type Json, type SignatureReader } from './content.js';

/** The referrers worth reading, bundles by their own account first; at most SIGNATURE_LIMITS.referrersRead. */
function candidates(descriptors: readonly Json[]): string[] {
  const said = (descriptor: Json) => BUNDLE_MEDIA_TYPES.has(String(descriptor.artifactType));
  const ordered = [...descriptors.filter(said), ...descriptors.filter((descriptor) => !said(descriptor))];
  const digests = ordered.flatMap((descriptor) =>
    typeof descriptor.digest === 'string' && isDigest(descriptor.digest) ? [descriptor.digest] : [],
  );
  return [...new Set(digests)].slice(0, SIGNATURE_LIMITS.referrersRead);
}

/** Why one referrer manifest holds no bundle by one of `keys` over `manifest`, or undefined when it does. */
async function referrerProblem(
  reader: SignatureReader,
  repository: string,
  referrer: string,
  manifest: SignedManifest,
  keys: readonly KeyObject[],
): Promise<string | undefined> {
  const read = await unlessTooLarge(reader.readManifest(repository, referrer));
  if (read === 'too large') return 'a referrer manifest is too large';
  if (!read || !hasDigest(read.bytes, referrer)) return 'a referrer manifest is missing or not what its digest says';
  const parsed = manifestObject(read.bytes);
  const layer = parsed && entriesOf(parsed, 'layers', 1).entries[0];
  if (!layer || !BUNDLE_MEDIA_TYPES.has(String(layer.mediaType)) || typeof layer.digest !== 'string')
    return 'a referrer is not a sigstore bundle';
  const bundle = await unlessTooLarge(reader.readBlob(repository, layer.digest, SIGNATURE_LIMITS.bundleBytes));
  if (bundle === 'too large') return `the bundle is larger than ${SIGNATURE_LIMITS.bundleBytes} bytes`;
  if (!bundle || !hasDigest(bundle, layer.digest)) return 'the bundle is missing or not what its digest says';
  return bundleProblem(bundle, manifest, keys);
}

/** Whether a sigstore bundle by one of `keys`, attached to `manifest` as a referrer in `repository`, signs it. */
export async function referrerBundleSignature(
  reader: SignatureReader,
  repository: string,
  manifest: SignedManifest,
  keys: readonly KeyObject[],
): Promise<SignatureOutcome> {
  if (keys.length === 0) return { signed: false, why: 'the policy has no keys' };
  const listed = await unlessTooLarge(reader.listReferrers(repository, manifest.digest));
  if (listed === 'too large') return { signed: false, why: 'the referrers list is too large' };
  const descriptors = listed.flatMap((entry) => {
    const object = asObject(entry);
    return object ? [object] : [];
  });
  const digests = candidates(descriptors);
  let why = 'no referrer';
  // One at a time: the first good bundle ends the work.
  for (const referrer of digests) {
    const problem = await referrerProblem(reader, repository, referrer, manifest, keys);
    if (problem === undefined) return { signed: true };
    why = problem;
  }
  if (descriptors.length > digests.length) why += ` (read ${digests.length} of ${descriptors.length} referrers)`;
  return { signed: false, why };
}
