/**
 * A small signer in cosign's format, for tests (Debian's skopeo has its sigstore support compiled
 * out, and cosign is not packaged): keys made with node:crypto, the simple signing payload exactly
 * as cosign writes it (sigstore/cosign pkg/cosign/payload: Go's encoding of
 * `{critical:{identity,image,type},optional}`, `optional` null when there are no annotations), a
 * signature over those bytes (ECDSA P-256/SHA-256 DER, RSA PKCS #1 v1.5/SHA-256, Ed25519), and the
 * signature manifest cosign pushes under `sha256-<hex>.sig`: an OCI image manifest whose layers are
 * the payloads (`application/vnd.dev.cosign.simplesigning.v1+json`), each with its base64 signature
 * in the `dev.cosignproject.cosign/signature` annotation.
 */
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { OCI_MANIFEST, RegistryClient, sha256 } from './registry-client.js';

export const SIMPLE_SIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';

export type KeyKind = 'ecdsa-p256' | 'ed25519' | 'rsa';

export interface SigningKey {
  readonly kind: KeyKind;
  readonly privateKey: KeyObject;
  /** SPKI PEM, as `cosign generate-key-pair` writes cosign.pub. */
  readonly publicPem: string;
}

export function makeSigningKey(kind: KeyKind): SigningKey {
  const pair =
    kind === 'ecdsa-p256'
      ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
      : kind === 'ed25519'
        ? generateKeyPairSync('ed25519')
        : generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { kind, privateKey: pair.privateKey, publicPem: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

export async function writePublicKey(file: string, ...keys: SigningKey[]): Promise<void> {
  await writeFile(file, keys.map((key) => key.publicPem).join(''), { mode: 0o600 });
}

/** cosign's payload for `reference` (`host/repository`) and `digest`, byte for byte. */
export function simpleSigningPayload(dockerReference: string, digest: string): Buffer {
  return Buffer.from(
    `{"critical":{"identity":{"docker-reference":${JSON.stringify(dockerReference)}},"image":{"docker-manifest-digest":${JSON.stringify(digest)}},"type":"cosign container image signature"},"optional":null}`,
  );
}

export function signPayload(key: SigningKey, payload: Buffer): Buffer {
  if (key.kind === 'ed25519') return sign(null, payload, key.privateKey);
  if (key.kind === 'ecdsa-p256') return sign('sha256', payload, { key: key.privateKey, dsaEncoding: 'der' });
  return sign('sha256', payload, key.privateKey);
}

export interface SignatureLayer {
  readonly payload: Buffer;
  /** Base64 text put in the annotation (a test may put anything). */
  readonly signature: string;
}

export function signatureLayer(key: SigningKey, payload: Buffer): SignatureLayer {
  return { payload, signature: signPayload(key, payload).toString('base64') };
}

export function signatureTag(digest: string): string {
  return `${digest.replace(':', '-')}.sig`;
}

/** The signature manifest of `layers`, as cosign builds it (config: an image config whose rootfs lists the payloads). */
export function signatureManifest(layers: readonly SignatureLayer[], configDigest: string, configSize: number): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', size: configSize, digest: configDigest },
      layers: layers.map((layer) => ({
        mediaType: SIMPLE_SIGNING,
        size: layer.payload.length,
        digest: sha256(layer.payload),
        annotations: { [SIGNATURE_ANNOTATION]: layer.signature },
      })),
    }),
  );
}

function signatureConfig(layers: readonly SignatureLayer[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      architecture: '',
      created: '0001-01-01T00:00:00Z',
      history: [{ created: '0001-01-01T00:00:00Z' }],
      os: '',
      rootfs: { type: 'layers', diff_ids: layers.map((layer) => sha256(layer.payload)) },
      config: {},
    }),
  );
}

/** Pushes the payloads, the config and the signature manifest under `sha256-<hex>.sig` of `digest`; returns the manifest's digest. */
export async function pushSignatures(
  client: RegistryClient,
  repository: string,
  digest: string,
  layers: readonly SignatureLayer[],
): Promise<string> {
  const payloads = new Map(layers.map((layer) => [sha256(layer.payload), layer.payload]));
  for (const payload of payloads.values()) await client.pushBlob(repository, payload);
  const config = signatureConfig(layers);
  const configDigest = await client.pushBlob(repository, config);
  const manifest = signatureManifest(layers, configDigest, config.length);
  await client.pushManifest(repository, signatureTag(digest), manifest, OCI_MANIFEST);
  return sha256(manifest);
}

/** Signs `digest` in `repository` as `cosign sign --key` does (`host` is the registry as the signer named it). */
export function signImage(client: RegistryClient, key: SigningKey, host: string, repository: string, digest: string): Promise<string> {
  return pushSignatures(client, repository, digest, [signatureLayer(key, simpleSigningPayload(`${host}/${repository}`, digest))]);
}
