/**
 * The distribution grammar of what a request names: repository names, tags, digests and upload
 * ids. The one digest grammar of the code base is here; the built-in registry narrows it to the
 * algorithms it stores (backend/filesystem/digest.ts).
 */

export const MAX_NAME_LENGTH = 255;
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
/** The OCI image spec's `algorithm ":" encoded`. */
const DIGEST = /^(?<algorithm>[a-z0-9]+(?:[+._-][a-z0-9]+)*):(?<encoded>[a-zA-Z0-9=_-]+)$/;
const MAX_DIGEST_LENGTH = 256;
const UPLOAD_ID = /^[A-Za-z0-9_=-][A-Za-z0-9._=-]{0,255}$/;

export function isValidRepositoryName(name: string): boolean {
  if (name.length === 0 || name.length > MAX_NAME_LENGTH) return false;
  return name.split('/').every((component) => COMPONENT.test(component));
}

export function isTag(reference: string): boolean {
  return TAG.test(reference);
}

/** A digest's two parts, or undefined when the text is not in the digest grammar. */
export function splitDigest(text: string): { readonly algorithm: string; readonly encoded: string } | undefined {
  if (text.length > MAX_DIGEST_LENGTH) return undefined;
  const groups = DIGEST.exec(text)?.groups;
  if (groups?.algorithm === undefined || groups.encoded === undefined) return undefined;
  return { algorithm: groups.algorithm, encoded: groups.encoded };
}

export function isDigest(reference: string): boolean {
  return splitDigest(reference) !== undefined;
}

/**
 * The encoding of each digest algorithm a registry behind this gateway can store: the OCI image
 * spec's registered sha256 and sha512, and sha384, which Distribution also takes.
 */
const ALGORITHM_ENCODINGS: Readonly<Record<string, RegExp>> = {
  sha256: /^[a-f0-9]{64}$/,
  sha384: /^[a-f0-9]{96}$/,
  sha512: /^[a-f0-9]{128}$/,
};

/**
 * Why a reference in the digest grammar can name no content: `unsupported` (an algorithm no
 * registry here stores) or `invalid` (not that algorithm's encoding: `sha256:zz`, upper-case hex);
 * undefined when it can. Such a reference is refused before it reaches a registry, which may not
 * refuse it cleanly (Distribution 2.8 answers a manifest GET of `sha256:zz` with a 500 naming its
 * storage paths).
 */
export function digestFault(text: string): 'invalid' | 'unsupported' | undefined {
  const parts = splitDigest(text);
  if (!parts) return 'invalid';
  const encoding = ALGORITHM_ENCODINGS[parts.algorithm];
  if (!encoding) return 'unsupported';
  return encoding.test(parts.encoded) ? undefined : 'invalid';
}

/** A digest that can name content here (in the grammar, of a supported algorithm, in its encoding). */
export function isContentDigest(text: string): boolean {
  return digestFault(text) === undefined;
}

export function isUploadId(text: string): boolean {
  return UPLOAD_ID.test(text);
}
