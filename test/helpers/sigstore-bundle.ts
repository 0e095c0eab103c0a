/**
 * A small maker of sigstore bundles for tests (cosign is not packaged in Debian): the bundle JSON
 * of protobuf-specs' Bundle v0.3 as `cosign sign --key --new-bundle-format` writes it, with a
 * public-key `verificationMaterial` and no transparency log entry, and its attachment as an OCI 1.1
 * referrer as sigstore/cosign specs/BUNDLE_SPEC.md lays it out: the bundle a blob, a manifest with
 * `artifactType` the bundle type, the empty config, one layer (the bundle), `subject` the signed
 * manifest; where the registry has no referrers API (no `OCI-Subject` in the PUT's answer), the
 * referrers tag `sha256-<hex>` (an index of the referrers) is written as a client does.
 */
import { createHash } from 'node:crypto';
import { OCI_EMPTY, OCI_INDEX, OCI_MANIFEST, RegistryClient, sha256 } from './registry-client.js';
import { signPayload, type SigningKey } from './cosign-signer.js';

export const BUNDLE_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
export const IN_TOTO = 'application/vnd.in-toto+json';

/** DSSE's pre-authentication encoding, made here independently of the gateway's. */
export function pae(payloadType: string, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`DSSEv1 ${Buffer.byteLength(payloadType)} ${payloadType} ${payload.length} `, 'utf8'), payload]);
}

/** The in-toto statement cosign signs for an image: subject name and sha256, predicate cosign/sign/v1. */
export function signStatement(name: string, digest: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ name, digest: { sha256: digest.replace('sha256:', '') } }],
      predicateType: 'https://sigstore.dev/cosign/sign/v1',
      predicate: {},
    }),
  );
}

const keyMaterial = { publicKey: { hint: 'test-key' }, tlogEntries: [] };

/** A DSSE bundle over `statement` signed by `key`. */
export function dsseBundle(key: SigningKey, statement: Buffer): Buffer {
  const sig = signPayload(key, pae(IN_TOTO, statement)).toString('base64');
  return Buffer.from(
    JSON.stringify({
      mediaType: BUNDLE_TYPE,
      verificationMaterial: keyMaterial,
      dsseEnvelope: { payload: statement.toString('base64'), payloadType: IN_TOTO, signatures: [{ sig, keyid: '' }] },
    }),
  );
}

/** A message-signature bundle over the exact manifest bytes. */
export function messageBundle(key: SigningKey, manifest: Buffer): Buffer {
  return Buffer.from(
    JSON.stringify({
      mediaType: BUNDLE_TYPE,
      verificationMaterial: keyMaterial,
      messageSignature: {
        messageDigest: { algorithm: 'SHA2_256', digest: createHash('sha256').update(manifest).digest('base64') },
        signature: signPayload(key, manifest).toString('base64'),
      },
    }),
  );
}

export interface Subject {
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
}

/** Pushes `bundle` as a referrer of `subject` in `repository` (and the referrers tag where needed); returns the referrer's digest. */
export async function attachBundle(client: RegistryClient, repository: string, subject: Subject, bundle: Buffer): Promise<string> {
  const bundleDigest = await client.pushBlob(repository, bundle);
  const empty = Buffer.from('{}');
  await client.pushBlob(repository, empty);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: BUNDLE_TYPE,
      config: { mediaType: OCI_EMPTY, digest: sha256(empty), size: empty.length },
      layers: [{ mediaType: BUNDLE_TYPE, digest: bundleDigest, size: bundle.length }],
      subject,
    }),
  );
  const digest = sha256(manifest);
  const reply = await client.pushManifest(repository, digest, manifest, OCI_MANIFEST);
  if (reply.headers['oci-subject'] === undefined) await addToReferrersTag(client, repository, subject.digest, digest, manifest.length);
  return digest;
}

/** The referrers tag schema (OCI distribution spec): the index under `sha256-<hex>` gets one more entry. */
async function addToReferrersTag(client: RegistryClient, repository: string, subject: string, digest: string, size: number): Promise<void> {
  const tag = subject.replace(':', '-');
  const current = await client.call('GET', `/v2/${repository}/manifests/${tag}`, { headers: { accept: OCI_INDEX } });
  const manifests = current.status === 200 ? current.json<{ manifests: unknown[] }>().manifests : [];
  const index = {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [...manifests, { mediaType: OCI_MANIFEST, digest, size, artifactType: BUNDLE_TYPE }],
  };
  await client.pushManifest(repository, tag, Buffer.from(JSON.stringify(index)), OCI_INDEX);
}
