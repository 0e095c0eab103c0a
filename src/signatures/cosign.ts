/**
 * Signatures in cosign's tag convention: the signatures of manifest `sha256:<hex>` are the layers of
 * the manifest tagged `sha256-<hex>.sig` in the same repository. Each layer's blob is a simple
 * signing payload (./simple-signing.ts), its annotation `dev.cosignproject.cosign/signature` the
 * base64 signature over those exact bytes, as sigstore/cosign (pkg/oci/static, pkg/cosign) writes
 * and reads them. One valid layer is enough.
 *
 * Verification is node:crypto's, as cosign's verifier for each key type does it: ECDSA P-256 over
 * SHA-256 with an ASN.1 DER signature, RSA PKCS #1 v1.5 over SHA-256, Ed25519 over the payload
 * itself. Only keys are checked: no certificate, transparency log (Rekor) or Fulcio identity.
 */
import { constants, verify, type KeyObject } from 'node:crypto';
import { SIGNATURE_LIMITS } from '../lib/work-budget.js';
import { isRegistryError } from '../oci/errors.js';
import { namesRepository, readSignedClaim } from './simple-signing.js';
import { entriesOf, hasDigest, manifestObject, type SignatureReader } from './content.js';

export const SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
/** An RSA-8192 signature is 1,368 characters of base64. */
const MAX_SIGNATURE_CHARS = 2048;

/** The verdict on one manifest: signed, or why not (for the log and audit trail, never the client). */
export type SignatureOutcome = { readonly signed: true } | { readonly signed: false; readonly why: string };

/** The cosign signature tag of a digest: `sha256:ab…` → `sha256-ab….sig`. */
export function signatureTag(digest: string): string {
  return `${digest.replace(':', '-')}.sig`;
}

/**
 * A read that may be too large for its cap: undefined when it was (content someone pushed decides
 * that, so it is a verdict: not signed); any other failure (the registry behind not answering) is
 * the request's failure, never a verdict that would be cached.
 */
export async function unlessTooLarge<T>(read: Promise<T>): Promise<T | 'too large'> {
  try {
    return await read;
  } catch (error) {
    if (isRegistryError(error) && error.status === 413) return 'too large';
    throw error;
  }
}

/** Whether `signature` is `key`'s over `payload`; false for a malformed signature, never a throw. */
export function verifiesWith(key: KeyObject, payload: Buffer, signature: Buffer): boolean {
  try {
    switch (key.asymmetricKeyType) {
      case 'ed25519':
        return verify(null, payload, key, signature);
      case 'ec':
        return verify('sha256', payload, { key, dsaEncoding: 'der' }, signature);
      case 'rsa':
        return verify('sha256', payload, { key, padding: constants.RSA_PKCS1_PADDING }, signature);
      default:
        return false;
    }
  } catch {
    return false;
  }
}

/** Why one signature layer does not sign `digest` in `repository` with one of `keys`, or undefined when it does. */
async function layerProblem(
  reader: SignatureReader,
  layer: Record<string, unknown>,
  subject: { readonly repository: string; readonly digest: string },
  keys: readonly KeyObject[],
): Promise<string | undefined> {
  const annotations = layer.annotations;
  const encoded =
    typeof annotations === 'object' && annotations !== null ? (annotations as Record<string, unknown>)[SIGNATURE_ANNOTATION] : undefined;
  if (typeof encoded !== 'string' || encoded.length > MAX_SIGNATURE_CHARS || !BASE64.test(encoded)) return 'no usable signature annotation';
  const payloadDigest = layer.digest;
  if (typeof payloadDigest !== 'string') return 'a signature layer without a digest';
  const payload = await unlessTooLarge(reader.readBlob(subject.repository, payloadDigest, SIGNATURE_LIMITS.payloadBytes));
  if (payload === 'too large') return `the signed payload is larger than ${SIGNATURE_LIMITS.payloadBytes} bytes`;
  if (!payload || !hasDigest(payload, payloadDigest)) return 'the signed payload is missing or not what its digest says';
  const signature = Buffer.from(encoded, 'base64');
  if (!keys.some((key) => verifiesWith(key, payload, signature))) return 'no trusted key made this signature';
  let claim;
  try {
    claim = readSignedClaim(payload);
  } catch (error) {
    return `the signed payload is not a cosign image signature: ${error instanceof Error ? error.message : 'unreadable'}`;
  }
  if (claim.manifestDigest !== subject.digest) return 'the signature is for another digest';
  if (!namesRepository(claim.dockerReference, subject.repository)) return 'the signature is for another repository';
  return undefined;
}

/** Whether a cosign signature by one of `keys` covers `digest` in `repository`. */
export async function cosignSignature(
  reader: SignatureReader,
  repository: string,
  digest: string,
  keys: readonly KeyObject[],
): Promise<SignatureOutcome> {
  if (keys.length === 0) return { signed: false, why: 'the policy has no keys' };
  const manifest = await unlessTooLarge(reader.readManifest(repository, signatureTag(digest)));
  if (manifest === 'too large') return { signed: false, why: 'the signature manifest is too large' };
  if (!manifest) return { signed: false, why: 'no signature tag' };
  const parsed = manifestObject(manifest.bytes);
  if (!parsed) return { signed: false, why: 'the signature tag is not a JSON manifest' };
  const { entries } = entriesOf(parsed, 'layers', SIGNATURE_LIMITS.signaturesPerManifest);
  let why = 'the signature manifest has no layers';
  // One at a time: the first good signature ends the work, and a bad one costs no more than its own reads.
  for (const layer of entries) {
    const problem = await layerProblem(reader, layer, { repository, digest }, keys);
    if (problem === undefined) return { signed: true };
    why = problem;
  }
  return { signed: false, why };
}
