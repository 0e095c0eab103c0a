/** The `code` of a failed system call (`ENOENT`, `EEXIST`, …), or undefined for any other value. */
export function errnoCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  return typeof error.code === 'string' ? error.code : undefined;
}
