/**
 * Token signing key material: making a key pair with its self-signed certificate, and turning a
 * stored key back into the public key, JWK and certificate that tokens and registries use.
 *
 * `kid` is the RFC 7638 JWK thumbprint (SHA-256, base64url) of the public key: Distribution 3
 * looks keys up by exactly that. Each key also has a self-signed X.509 certificate, sent in every
 * token's `x5c` header: Distribution 2.8 verifies that chain against its rootcertbundle (it reads
 * `kid` as a libtrust fingerprint, which no RFC 7638 thumbprint is).
 */
import { X509Certificate, createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { calculateJwkThumbprint, exportJWK, type JWK } from 'jose';
import { generate } from 'selfsigned';
import type { KeyFile, StoredKey } from './key-schema.js';
import type { SigningAlgorithm } from './types.js';
import { InternalError } from '../../lib/internal-errors.js';

/** Certificates are valid this long; rotate before (Distribution checks the dates). */
const CERTIFICATE_YEARS = 10;
/** Certificates start this early, for registries whose clock is behind ours. */
const CERTIFICATE_BACKDATE_MS = 3_600_000;

export interface SigningKey {
  readonly kid: string;
  readonly algorithm: SigningAlgorithm;
  readonly publicKey: KeyObject;
  /** The public key as a JWK with `kid`, `alg`, `use` and `x5c`. */
  readonly jwk: JWK;
  readonly certificatePem: string;
  /** Base64 (not base64url) DER, as the `x5c` header wants it. */
  readonly certificateDer: string;
  readonly created: Date;
  /** When it stopped signing (previous key only). */
  readonly retired?: Date;
}

export interface CurrentSigningKey extends SigningKey {
  readonly privateKey: KeyObject;
}

export interface KeySet {
  readonly current: CurrentSigningKey;
  readonly previous: SigningKey | undefined;
}

const generateKeyPairAsync = promisify(generateKeyPair);

/** A new key of `algorithm` with its certificate, as the key file stores it. */
export async function newStoredKey(algorithm: SigningAlgorithm, now: Date): Promise<KeyFile['current']> {
  const pair =
    algorithm === 'ES256'
      ? await generateKeyPairAsync('ec', { namedCurve: 'P-256' })
      : await generateKeyPairAsync('rsa', { modulusLength: 2048 });
  const privateKey = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const publicKey = pair.publicKey.export({ type: 'spki', format: 'pem' }) as string;
  const notAfter = new Date(now);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + CERTIFICATE_YEARS);
  const certificate = await generate([{ name: 'commonName', value: 'registry-gate token signer' }], {
    keyType: algorithm === 'ES256' ? 'ec' : 'rsa',
    ...(algorithm === 'ES256' ? { curve: 'P-256' as const } : { keySize: 2048 }),
    algorithm: 'sha256',
    keyPair: { privateKey, publicKey },
    notBeforeDate: new Date(now.getTime() - CERTIFICATE_BACKDATE_MS),
    notAfterDate: notAfter,
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, critical: true },
    ],
  });
  const kid = await thumbprintOf(pair.publicKey);
  return { kid, algorithm, created: now.toISOString(), certificate: certificate.cert, privateKey };
}

async function thumbprintOf(publicKey: KeyObject): Promise<string> {
  return calculateJwkThumbprint(await exportJWK(publicKey), 'sha256');
}

async function publicKeyOf(stored: StoredKey, retired?: string): Promise<SigningKey> {
  const certificate = new X509Certificate(stored.certificate);
  const publicKey = certificate.publicKey;
  const kid = await thumbprintOf(publicKey);
  if (kid !== stored.kid) throw new InternalError('RG_ERR_FILE_INVALID', `key ${stored.kid}: its certificate holds another key (${kid})`);
  const expectedType = stored.algorithm === 'ES256' ? 'ec' : 'rsa';
  if (publicKey.asymmetricKeyType !== expectedType)
    throw new InternalError('RG_ERR_FILE_INVALID', `key ${stored.kid} is not an ${stored.algorithm} key`);
  const certificateDer = certificate.raw.toString('base64');
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: stored.algorithm, use: 'sig', x5c: [certificateDer] };
  return {
    kid,
    algorithm: stored.algorithm,
    publicKey,
    jwk,
    certificatePem: certificate.toString(),
    certificateDer,
    created: new Date(stored.created),
    ...(retired === undefined ? {} : { retired: new Date(retired) }),
  };
}

/** The keys a key file holds, checked: each certificate holds its key, the private key matches. */
export async function keySetOf(file: KeyFile): Promise<KeySet> {
  const current = await publicKeyOf(file.current);
  const privateKey = createPrivateKey(file.current.privateKey);
  if (!createPublicKey(privateKey).equals(current.publicKey))
    throw new InternalError('RG_ERR_FILE_INVALID', `key ${file.current.kid}: the private key does not match its certificate`);
  const previous = file.previous ? await publicKeyOf(file.previous, file.previous.retired) : undefined;
  return { current: { ...current, privateKey }, previous };
}
