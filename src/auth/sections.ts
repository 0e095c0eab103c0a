/**
 * The lock the personal token and OpenID Connect stores take around a read-modify-write of their
 * files and around a re-check with the provider: the server's shared lock (across workers, or
 * replicas through Redis; server/keyed-lock.ts), handed in by the composition root. auth/ only
 * knows its shape.
 */
export interface KeyedSections {
  run<T>(key: string, section: () => Promise<T>): Promise<T>;
}

/** No lock at all: for a caller that is alone with the files (a unit test). */
export const UNLOCKED: KeyedSections = { run: (_key, section) => section() };
