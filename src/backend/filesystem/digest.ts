/**
 * Content digests (`algorithm:hex`, in the one digest grammar of src/oci/names.ts). sha256 and sha512 are supported, as the OCI image spec
 * registers them; the hex part must be lower case and of the algorithm's exact length.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { RegistryError } from '../../oci/errors.js';
import { splitDigest } from '../../oci/names.js';

export type DigestAlgorithm = 'sha256' | 'sha512';

export interface Digest {
  readonly algorithm: DigestAlgorithm;
  readonly hex: string;
  /** `algorithm:hex` */
  readonly value: string;
}

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
const LOWER_HEX = /^[a-f0-9]+$/;

/** The digest algorithm used when the client does not choose one (manifests pushed by tag). */
export const CANONICAL_ALGORITHM: DigestAlgorithm = 'sha256';

function isSupported(algorithm: string): algorithm is DigestAlgorithm {
  return algorithm === 'sha256' || algorithm === 'sha512';
}

/** The digest, or undefined when the text is not a well-formed digest of a supported algorithm. */
export function tryParseDigest(text: string): Digest | undefined {
  const parts = splitDigest(text);
  if (!parts) return undefined;
  const { algorithm, encoded: hex } = parts;
  if (!isSupported(algorithm)) return undefined;
  if (hex.length !== HEX_LENGTH[algorithm] || !LOWER_HEX.test(hex)) return undefined;
  return { algorithm, hex, value: `${algorithm}:${hex}` };
}

/**
 * Parses a digest from a request. Malformed digests and unsupported algorithms are both
 * DIGEST_INVALID (400), which is what the distribution spec and Distribution answer.
 */
export function parseDigest(text: string): Digest {
  const digest = tryParseDigest(text);
  if (digest) return digest;
  const parts = splitDigest(text);
  if (parts && !isSupported(parts.algorithm)) {
    throw new RegistryError('DIGEST_INVALID', 'unsupported digest algorithm', {
      detail: { digest: text, supported: ['sha256', 'sha512'] },
    });
  }
  throw new RegistryError('DIGEST_INVALID', 'invalid digest', { detail: { digest: text } });
}

export function newHash(algorithm: DigestAlgorithm): Hash {
  return createHash(algorithm);
}

export function digestOf(algorithm: DigestAlgorithm, hex: string): Digest {
  return { algorithm, hex, value: `${algorithm}:${hex}` };
}

export function digestBytes(algorithm: DigestAlgorithm, bytes: Uint8Array): Digest {
  return digestOf(algorithm, createHash(algorithm).update(bytes).digest('hex'));
}

/** Feeds bytes `from` (default 0) up to `length` of a file (to its end when undefined) into `hash`. */
export async function hashFileInto(hash: Hash, path: string, length?: number, from = 0): Promise<void> {
  if (length !== undefined && length <= from) return;
  const stream = createReadStream(path, { start: from, ...(length === undefined ? {} : { end: length - 1 }), highWaterMark: 1024 * 1024 });
  for await (const chunk of stream) hash.update(chunk as Buffer);
}

export async function digestFile(algorithm: DigestAlgorithm, path: string, length?: number): Promise<Digest> {
  const hash = newHash(algorithm);
  await hashFileInto(hash, path, length);
  return digestOf(algorithm, hash.digest('hex'));
}
