/**
 * Signatures themselves, which pass a policy unsigned: `cosign verify` must read a signature
 * manifest before anything vouches for it. A layer descriptor's media type is a label its pusher
 * chose, and podman unpacks a layer labelled a cosign payload like any other; so a manifest is a
 * signature only by what its layers hold: each layer labelled a cosign payload, sigstore bundle or
 * DSSE envelope, and each one a small JSON object in UTF-8 (what all three are). Such bytes hold no
 * NUL and no control byte, so no runtime can unpack them into a file system, let alone run one.
 */
import { SIGNATURE_LIMITS } from '../lib/work-budget.js';
import { unlessTooLarge } from './cosign.js';
import { asObject, entriesOf, hasDigest, type Json, type SignatureReader } from './content.js';

/** Layers of a signature rather than of an image: cosign's simple signing payloads, sigstore bundles, DSSE attestations. */
const SIGNATURE_LAYER_TYPES: ReadonlySet<string> = new Set([
  'application/vnd.dev.cosign.simplesigning.v1+json',
  'application/vnd.dev.sigstore.bundle.v0.3+json',
  'application/vnd.dev.sigstore.bundle+json;version=0.3',
  'application/vnd.dsse.envelope.v1+json',
]);

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

function isJsonObject(bytes: Buffer): boolean {
  try {
    return asObject(JSON.parse(STRICT_UTF8.decode(bytes))) !== undefined;
  } catch {
    return false;
  }
}

/** Whether one layer is what its signature label says: a JSON object of at most a payload's size, as its digest says. */
async function holdsSignatureDocument(reader: SignatureReader, repository: string, layer: Json): Promise<boolean> {
  if (!SIGNATURE_LAYER_TYPES.has(String(layer.mediaType)) || typeof layer.digest !== 'string') return false;
  const bytes = await unlessTooLarge(reader.readBlob(repository, layer.digest, SIGNATURE_LIMITS.payloadBytes));
  return bytes !== 'too large' && bytes !== undefined && hasDigest(bytes, layer.digest) && isJsonObject(bytes);
}

/**
 * Whether `manifest` (an image manifest, not an index) is a signature: at most
 * SIGNATURE_LIMITS.signaturesPerManifest layers, every one a signature document. Reads at most
 * that many blobs of at most SIGNATURE_LIMITS.payloadBytes, and stops at the first that is not one.
 */
export async function isSignatureArtifact(reader: SignatureReader, repository: string, manifest: Json): Promise<boolean> {
  const { entries, more } = entriesOf(manifest, 'layers', SIGNATURE_LIMITS.signaturesPerManifest);
  const layers = manifest.layers;
  if (more || entries.length === 0 || !Array.isArray(layers) || entries.length !== layers.length) return false;
  for (const layer of entries) if (!(await holdsSignatureDocument(reader, repository, layer))) return false;
  return true;
}
