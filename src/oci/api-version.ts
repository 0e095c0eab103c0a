/** The header every answer of a Docker registry v2 API carries, and its one value. */
export const API_VERSION_HEADER = 'docker-distribution-api-version';
export const API_VERSION = 'registry/2.0';
