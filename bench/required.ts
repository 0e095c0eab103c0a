/** `value`, which the caller knows is there (a map filled above, a regex group that matched); a clear error if not. */
export function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`bench: ${what} is missing`);
  return value;
}
