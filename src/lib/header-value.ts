/**
 * A request header as one string. Node gives a header sent several times as an array (for the few
 * it does not join itself); the gateway's own policy (who the client is) and the forwarder (what it
 * passes on) read such a header the same way, so both take it from here.
 */

/** A header given several times, as one comma-separated value. */
export function oneHeaderValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}
