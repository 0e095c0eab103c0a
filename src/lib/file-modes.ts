/**
 * What registry-gate creates on disk is for its own user only: folders 0700, files 0600 — stored
 * images, uploads, the audit trail, TLS and token keys. The process umask still applies, so a
 * stricter one wins. Folders and files that already exist keep their modes. Public files (the token
 * service's certificates and JWKS, meant to be copied to a registry) are 0644.
 */
export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;
export const PUBLIC_FILE_MODE = 0o644;
