/**
 * The two range grammars the registry reads: `Range` on blob downloads (RFC 9110 §14.2, one range
 * only) and `Content-Range` on upload chunks (the distribution spec's `^[0-9]+-[0-9]+$`).
 */

/** Inclusive byte positions. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

export type RangeRequest =
  | { kind: 'whole' } // no Range header, or one we may ignore (RFC 9110 lets a server ignore Range)
  | { kind: 'partial'; range: ByteRange }
  | { kind: 'unsatisfiable' };

const MAX_DIGITS = 15; // below 2^53, so Number() is exact

/**
 * Interprets a `Range` header against a representation of `size` bytes. Multiple ranges and other
 * units are answered with the whole blob, as RFC 9110 allows; a syntactically valid single range
 * that selects nothing is unsatisfiable (416).
 */
export function parseRangeHeader(header: string | undefined, size: number): RangeRequest {
  if (header === undefined) return { kind: 'whole' };
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) return { kind: 'whole' };
  const [, first = '', last = ''] = match;
  if (first.length > MAX_DIGITS || last.length > MAX_DIGITS) return { kind: 'unsatisfiable' };
  if (first === '' && last === '') return { kind: 'whole' };
  if (first === '') {
    // suffix range: the last N bytes
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', range: { start: Math.max(0, size - suffix), end: size - 1 } };
  }
  const start = Number(first);
  if (last !== '' && Number(last) < start) return { kind: 'whole' }; // invalid range-spec: ignore
  if (start >= size) return { kind: 'unsatisfiable' };
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  return { kind: 'partial', range: { start, end } };
}

/**
 * Parses an upload chunk's `Content-Range`. Returns undefined for a malformed value. The form
 * `bytes a-b/*` some clients send is accepted too.
 */
export function parseContentRange(header: string): ByteRange | undefined {
  const match = /^(?:bytes[ =])?(\d{1,15})-(\d{1,15})(?:\/(?:\*|\d{1,15}))?$/.exec(header.trim());
  if (!match) return undefined;
  const start = Number(match[1]);
  const end = Number(match[2]);
  if (end < start) return undefined;
  return { start, end };
}

/** The `Range` header of upload responses: `0-<last byte received>`. */
export function uploadRangeHeader(received: number): string {
  // With nothing received there is no last byte; Distribution (and the clients written against
  // it) use 0-0 then, so this does too.
  return `0-${Math.max(0, received - 1)}`;
}
