/**
 * One catalogue of internal failures: what goes wrong inside the gate and never reaches a client as
 * such (a client sees a RegistryError of src/oci/errors.ts, INTERNAL_ERROR or UNAVAILABLE at most).
 * Each has a stable code, like undici's `UND_ERR_*` and Node's `ERR_*`, so that logs, callers and
 * tests match on `error.code` rather than on a message an operator reads and that may be reworded.
 * Messages may name a file or a key, never a secret.
 *
 * An InternalError's `code` is an own property: pino's error serializer writes it into every log
 * line that carries the error (`"err":{"type":…,"message":…,"code":"RG_ERR_…"}`), and lines that
 * log only a message add `code` beside it (`internalErrorCode`).
 */

export const INTERNAL_ERRORS = {
  /** The config (file, environment, flags) is not valid: a key, a value, a rule. */
  RG_ERR_CONFIG_INVALID: 'the configuration is not valid',
  /** The config file cannot be read. */
  RG_ERR_CONFIG_UNREADABLE: 'the configuration file cannot be read',
  /** A file the gate watches (htpasswd, groups, robots, keys, TLS) could not be loaded at start: the cause says why. */
  RG_ERR_FILE_LOAD_FAILED: 'a file could not be loaded',
  /** A file the gate needs is missing, not a regular file, or cannot be read. */
  RG_ERR_FILE_UNREADABLE: 'a file cannot be read',
  /** A file's content is not what it must be (a key file, a robot store, a list of revoked users…). */
  RG_ERR_FILE_INVALID: 'a file does not hold what it should',
  /** Another process held a file's edit lock (file-lock.ts) longer than a writer waits: nothing was changed. */
  RG_ERR_FILE_LOCKED: 'the file is being changed by another process',
  /** The token key file holds a key of another algorithm than the config asks for. */
  RG_ERR_KEY_ALGORITHM_MISMATCH: 'the token key is of another algorithm than configured',
  /** The shared Redis did not answer (down, or a command timed out). */
  RG_ERR_REDIS_UNAVAILABLE: 'Redis is unavailable',
  /** The throttle's shared counters could not be read and written in time (Redis down, or contention). */
  RG_ERR_SHARED_STORE_UNAVAILABLE: 'the shared throttle store is unavailable',
  /** The connection to the LDAP directory was lost. */
  RG_ERR_DIRECTORY_UNAVAILABLE: 'the directory is unavailable',
  /** The LDAP directory did not answer in time. */
  RG_ERR_DIRECTORY_TIMEOUT: 'the directory did not answer in time',
  /** Asked of something already closed (a provider after a reload closed it). */
  RG_ERR_CLOSED: 'closed',
  /** A federated token's issuer did not hand over its discovery document or keys in time, or handed over something unusable. */
  RG_ERR_ISSUER_UNAVAILABLE: "the token issuer's keys are unavailable",
  /** A token (access or refresh) does not verify; the reason is for debug logs only. */
  RG_ERR_TOKEN_INVALID: 'invalid token',
  /** A worker process did not come up. */
  RG_ERR_WORKER_START_FAILED: 'a worker did not start',
  /** The password hash worker failed or exited. */
  RG_ERR_HASH_WORKER_FAILED: 'the password hash worker failed',
  /** A robot account cannot be made as asked: its name, scopes or expiry. */
  RG_ERR_ROBOT_INVALID: 'the robot account is not valid',
  /** A robot account of that name exists already. */
  RG_ERR_ROBOT_EXISTS: 'the robot account exists already',
  /** The client's response closed before all of it was sent. */
  RG_ERR_RESPONSE_CLOSED: 'the response closed before its end',
  /** A caller inside the gate asked for something it must not (a programming error, never the client's). */
  RG_ERR_INVALID_ARGUMENT: 'invalid argument',
  /** A reload asked for what only a restart can do (switching from an upstream to the built-in registry). */
  RG_ERR_NEEDS_RESTART: 'this change needs a restart',
} as const satisfies Record<`RG_ERR_${string}`, string>;

export type InternalErrorCode = keyof typeof INTERNAL_ERRORS;

export class InternalError extends Error {
  readonly code: InternalErrorCode;

  constructor(code: InternalErrorCode, message?: string, options?: ErrorOptions) {
    super(message ?? INTERNAL_ERRORS[code], options);
    this.name = 'InternalError';
    this.code = code;
  }
}

export function isInternalError(error: unknown, code?: InternalErrorCode): error is InternalError {
  return error instanceof InternalError && (code === undefined || error.code === code);
}

/** The code of an InternalError, for a log line that carries only the error's message; else undefined. */
export function internalErrorCode(error: unknown): InternalErrorCode | undefined {
  return error instanceof InternalError ? error.code : undefined;
}
