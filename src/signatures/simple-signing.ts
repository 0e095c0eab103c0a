/**
 * The payload cosign signs for an image (the "simple signing" format of containers/image,
 * docs/containers-signature.5.md there):
 *
 *   {"critical":{"identity":{"docker-reference":"registry.example.com/team/app"},
 *                "image":{"docker-manifest-digest":"sha256:…"},
 *                "type":"cosign container image signature"},
 *    "optional":null}
 *
 * Read as strictly as containers/image reads it (signature/internal/sigstore_payload.go):
 * `critical` and its three members exactly, nothing else in them; `optional` null or an object;
 * and, beyond it, no key twice in any object (./strict-json.ts).
 */
import { isDigest } from '../oci/names.js';
import { parseUnambiguousJson } from './strict-json.js';

export const COSIGN_SIGNATURE_TYPE = 'cosign container image signature';

export interface SignedClaim {
  /** The manifest digest the signer vouched for. */
  readonly manifestDigest: string;
  /** The image reference the signer named: `host[:port]/repository[:tag]`, as cosign writes it. */
  readonly dockerReference: string;
}

type Json = Record<string, unknown>;

function exactObject(value: unknown, fields: readonly string[], where: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${where} is not an object`);
  const keys = Object.keys(value);
  if (keys.length !== fields.length || !fields.every((field) => keys.includes(field)))
    throw new Error(`${where} must have exactly ${fields.join(', ')}`);
  return value as Json;
}

function text(value: unknown, where: string): string {
  if (typeof value !== 'string') throw new Error(`${where} is not a string`);
  return value;
}

/** What a payload claims; throws when it is not a cosign image signature payload. */
export function readSignedClaim(payload: Buffer): SignedClaim {
  const root = exactObject(parseUnambiguousJson(payload.toString('utf8')), ['critical', 'optional'], 'the payload');
  const optional = root.optional;
  if (optional !== null && (typeof optional !== 'object' || Array.isArray(optional))) throw new Error('optional is not an object');
  const critical = exactObject(root.critical, ['type', 'image', 'identity'], 'critical');
  if (critical.type !== COSIGN_SIGNATURE_TYPE) throw new Error('not a cosign container image signature');
  const manifestDigest = text(
    exactObject(critical.image, ['docker-manifest-digest'], 'critical.image')['docker-manifest-digest'],
    'digest',
  );
  if (!isDigest(manifestDigest)) throw new Error('docker-manifest-digest is not a digest');
  const identity = exactObject(critical.identity, ['docker-reference'], 'critical.identity');
  return { manifestDigest, dockerReference: text(identity['docker-reference'], 'docker-reference') };
}

/**
 * Whether the reference a signer named is `repository`: the part after the registry host (the
 * first component, when it holds a dot or a colon or is `localhost`, as Docker reads names),
 * without a tag or digest, must be the repository exactly. The host is not compared: the gateway is
 * reached under names it cannot know (a load balancer's, a mirror's), and the key already says who
 * signed; the repository is compared, so a signature made for one repository never passes in another.
 */
export function namesRepository(dockerReference: string, repository: string): boolean {
  let name = dockerReference;
  const at = name.indexOf('@');
  if (at >= 0) name = name.slice(0, at);
  const lastSlash = name.lastIndexOf('/');
  const colon = name.indexOf(':', lastSlash + 1);
  if (colon >= 0) name = name.slice(0, colon);
  const slash = name.indexOf('/');
  if (slash < 0) return false;
  const first = name.slice(0, slash);
  const hasHost = first.includes('.') || first.includes(':') || first === 'localhost';
  return hasHost && name.slice(slash + 1) === repository;
}
