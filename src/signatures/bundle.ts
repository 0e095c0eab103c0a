/**
 * Sigstore bundles (protobuf-specs' Bundle v0.3 in its JSON form, as cosign v2.4+ and v3 write them
 * with the new bundle format): whether one bundle is a signature by one of a policy's keys over the
 * manifest `digest`. Two contents count:
 *
 * - `dsseEnvelope`: payloadType `application/vnd.in-toto+json`, a signature over the DSSE
 *   pre-authentication encoding of (payloadType, payload), and the payload an in-toto Statement
 *   whose `subject[]` has an entry with `digest.sha256` equal to the manifest's hex (how
 *   `cosign sign --new-bundle-format` writes it, predicate `https://sigstore.dev/cosign/sign/v1`).
 * - `messageSignature`: `messageDigest` SHA2_256 equal to the manifest's digest, and a signature
 *   over the manifest's exact bytes.
 *
 * Only keys: a bundle whose `verificationMaterial` is a certificate (Fulcio, keyless) is not
 * accepted, and no transparency log entry (Rekor) is looked at. A bundle names no repository: it
 * binds the digest only (policies opt in, docs/signatures.md). Every JSON object read here is read
 * with the duplicate-key check (./strict-json.ts), so two readers cannot see two different bundles.
 */
import type { KeyObject } from 'node:crypto';
import { SIGNATURE_LIMITS } from '../lib/work-budget.js';
import { splitDigest } from '../oci/names.js';
import { asObject, type Json } from './content.js';
import { verifiesWith } from './cosign.js';
import { parseUnambiguousJson } from './strict-json.js';

export const BUNDLE_MEDIA_TYPES: ReadonlySet<string> = new Set([
  'application/vnd.dev.sigstore.bundle.v0.3+json',
  'application/vnd.dev.sigstore.bundle+json;version=0.3',
]);
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
const IN_TOTO_STATEMENT_TYPES: ReadonlySet<string> = new Set(['https://in-toto.io/Statement/v1', 'https://in-toto.io/Statement/v0.1']);
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
/** An RSA-8192 signature is 1,368 characters of base64; a key-based bundle carries one or a few. */
const MAX_SIGNATURE_CHARS = 2048;

/** The manifest a bundle must sign: its digest (`sha256:…`) and its exact bytes (already checked against it). */
export interface SignedManifest {
  readonly digest: string;
  readonly bytes: Buffer;
}

/** DSSE's pre-authentication encoding: `DSSEv1 SP len(type) SP type SP len(body) SP body`, lengths in ASCII decimal bytes. */
export function dssePae(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), payload]);
}

function base64Field(value: unknown, maxChars: number): Buffer | undefined {
  if (typeof value !== 'string' || value.length > maxChars || !BASE64.test(value)) return undefined;
  return Buffer.from(value, 'base64');
}

/** Why the in-toto Statement does not name `hex` as a subject's sha256, or undefined when it does. */
function statementProblem(payload: Buffer, hex: string): string | undefined {
  let statement: Json | undefined;
  try {
    statement = asObject(parseUnambiguousJson(payload.toString('utf8')));
  } catch (error) {
    return `the in-toto statement is not unambiguous JSON: ${error instanceof Error ? error.message : 'unreadable'}`;
  }
  if (!statement || !IN_TOTO_STATEMENT_TYPES.has(String(statement._type))) return 'the DSSE payload is not an in-toto statement';
  const subjects = statement.subject;
  if (!Array.isArray(subjects)) return 'the in-toto statement has no subject';
  for (const subject of subjects.slice(0, SIGNATURE_LIMITS.statementSubjects)) {
    const digests = asObject(asObject(subject)?.digest);
    if (digests?.sha256 === hex) return undefined;
  }
  return 'the in-toto statement is for another digest';
}

function dsseProblem(envelope: Json, keys: readonly KeyObject[], hex: string): string | undefined {
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) return `the DSSE payload type is not ${IN_TOTO_PAYLOAD_TYPE}`;
  const payload = base64Field(envelope.payload, Math.ceil((SIGNATURE_LIMITS.bundleBytes * 4) / 3));
  if (!payload) return 'the DSSE payload is not base64';
  const signatures = Array.isArray(envelope.signatures) ? envelope.signatures.slice(0, SIGNATURE_LIMITS.signaturesPerManifest) : [];
  const pae = dssePae(IN_TOTO_PAYLOAD_TYPE, payload);
  const signed = signatures.some((entry) => {
    const signature = base64Field(asObject(entry)?.sig, MAX_SIGNATURE_CHARS);
    return signature !== undefined && keys.some((key) => verifiesWith(key, pae, signature));
  });
  if (!signed) return 'no trusted key made this bundle';
  return statementProblem(payload, hex);
}

function messageProblem(message: Json, manifest: SignedManifest, keys: readonly KeyObject[], hex: string): string | undefined {
  const messageDigest = asObject(message.messageDigest);
  if (messageDigest?.algorithm !== 'SHA2_256') return 'the message digest is not SHA2_256';
  const digest = base64Field(messageDigest.digest, 64);
  if (digest?.toString('hex') !== hex) return 'the message signature is for another digest';
  const signature = base64Field(message.signature, MAX_SIGNATURE_CHARS);
  if (!signature || !keys.some((key) => verifiesWith(key, manifest.bytes, signature))) return 'no trusted key made this bundle';
  return undefined;
}

/** Why `bytes` are not a bundle by one of `keys` over `manifest`, or undefined when they are. */
export function bundleProblem(bytes: Buffer, manifest: SignedManifest, keys: readonly KeyObject[]): string | undefined {
  const parts = splitDigest(manifest.digest);
  if (parts?.algorithm !== 'sha256') return 'only sha256 manifests are signed by bundles';
  let bundle: Json | undefined;
  try {
    bundle = asObject(parseUnambiguousJson(bytes.toString('utf8')));
  } catch (error) {
    return `the bundle is not unambiguous JSON: ${error instanceof Error ? error.message : 'unreadable'}`;
  }
  if (!bundle || !BUNDLE_MEDIA_TYPES.has(String(bundle.mediaType))) return 'not a sigstore bundle v0.3';
  const material = asObject(bundle.verificationMaterial);
  if (!material || !asObject(material.publicKey) || 'certificate' in material || 'x509CertificateChain' in material)
    return 'the bundle is not signed with a key (certificates are not accepted)';
  const envelope = asObject(bundle.dsseEnvelope);
  const message = asObject(bundle.messageSignature);
  if (envelope && !message) return dsseProblem(envelope, keys, parts.encoded);
  if (message && !envelope) return messageProblem(message, manifest, keys, parts.encoded);
  return 'the bundle holds neither a DSSE envelope nor a message signature';
}
