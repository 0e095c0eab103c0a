/** The manifest media types a registry serves: OCI image manifest and index, Docker schema2 manifest and list. */
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

export const OCI_IMAGE_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const DOCKER_IMAGE_CONFIG = 'application/vnd.docker.container.image.v1+json';

/** Single-image manifests. */
export const IMAGE_MANIFEST_TYPES: ReadonlySet<string> = new Set([OCI_MANIFEST, DOCKER_MANIFEST]);
/** Manifests that list other manifests. */
export const INDEX_MANIFEST_TYPES: ReadonlySet<string> = new Set([OCI_INDEX, DOCKER_MANIFEST_LIST]);
export const MANIFEST_MEDIA_TYPES: ReadonlySet<string> = new Set([...IMAGE_MANIFEST_TYPES, ...INDEX_MANIFEST_TYPES]);
export const IMAGE_CONFIG_TYPES: ReadonlySet<string> = new Set([OCI_IMAGE_CONFIG, DOCKER_IMAGE_CONFIG]);
