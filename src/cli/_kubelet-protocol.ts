/**
 * The kubelet's image credential provider exec protocol, `credentialprovider.kubelet.k8s.io/v1`:
 * the kubelet writes a CredentialProviderRequest on the plugin's stdin and reads a
 * CredentialProviderResponse from its stdout. With KEP-4412 (the kubelet's `tokenAttributes`), the
 * request carries the pod's service-account token, minted for the audience the kubelet's
 * CredentialProviderConfig names:
 *
 *   {"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest",
 *    "image":"registry.example.com/apps/web:1.2","serviceAccountToken":"eyJ…",
 *    "serviceAccountAnnotations":{…}}
 *
 *   {"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderResponse",
 *    "cacheKeyType":"Image","cacheDuration":"240s",
 *    "auth":{"registry.example.com":{"username":"…","password":"…"}}}
 */
import { isValidRepositoryName } from '../oci/names.js';

export const KUBELET_API_VERSION = 'credentialprovider.kubelet.k8s.io/v1';
/** A request is a few KB (an image reference and a token); more is not the kubelet. */
export const MAX_REQUEST_BYTES = 64 * 1024;

export interface KubeletRequest {
  readonly image: string;
  readonly serviceAccountToken: string;
}

export interface KubeletResponse {
  readonly apiVersion: typeof KUBELET_API_VERSION;
  readonly kind: 'CredentialProviderResponse';
  readonly cacheKeyType: 'Image' | 'Registry' | 'Global';
  readonly cacheDuration: string;
  readonly auth: Record<string, { readonly username: string; readonly password: string }>;
}

/** The request on stdin, checked; a message saying what is wrong otherwise (never the token). */
export function parseKubeletRequest(text: string): KubeletRequest | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'stdin is not JSON';
  }
  const request = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  if (request.apiVersion !== KUBELET_API_VERSION) return `apiVersion must be ${KUBELET_API_VERSION}`;
  if (request.kind !== 'CredentialProviderRequest') return 'kind must be CredentialProviderRequest';
  if (typeof request.image !== 'string' || request.image === '') return 'image is missing';
  if (typeof request.serviceAccountToken !== 'string' || request.serviceAccountToken === '')
    return "no serviceAccountToken: set tokenAttributes (serviceAccountTokenAudience) for this provider in the kubelet's CredentialProviderConfig";
  return { image: request.image, serviceAccountToken: request.serviceAccountToken };
}

/**
 * The repository an image reference names on `registryHost` (`host[:port]/repo[:tag|@digest]`), or
 * undefined when it names another registry or no valid repository.
 */
export function repositoryOf(image: string, registryHost: string): string | undefined {
  const withoutScheme = image.replace(/^[a-z]+:\/\//, '');
  if (!withoutScheme.startsWith(`${registryHost}/`)) return undefined;
  const path = withoutScheme.slice(registryHost.length + 1).split('@', 1)[0] ?? '';
  const lastSlash = path.lastIndexOf('/');
  const colon = path.indexOf(':', lastSlash + 1);
  const repository = colon === -1 ? path : path.slice(0, colon);
  return isValidRepositoryName(repository) ? repository : undefined;
}

/** The answer for one image: the registry token as the password, cached by the kubelet for a little less than it lives. */
export function kubeletResponse(registryHost: string, token: string, expiresInSeconds: number): KubeletResponse {
  return {
    apiVersion: KUBELET_API_VERSION,
    kind: 'CredentialProviderResponse',
    cacheKeyType: 'Image',
    cacheDuration: `${Math.max(0, Math.floor(expiresInSeconds * 0.8))}s`,
    auth: { [registryHost]: { username: 'federated', password: token } },
  };
}
