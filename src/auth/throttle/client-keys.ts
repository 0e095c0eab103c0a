/** What the throttle counts by: accounts as directories compare names, addresses as one client holds them. */
import { clientNetwork } from '../../lib/ip.js';
import { foldUserName } from '../user-name.js';

/**
 * Account names as directories compare them (foldUserName: compatibility-normalised, case-folded,
 * without surrounding white space), so "Alice", "alice " and "ＡＬＩＣＥ" share one counter.
 */
export function normalizeAccount(user: string): string {
  return foldUserName(user);
}

/** IPv4 as is (also when IPv4-mapped), IPv6 reduced to its /prefix, anything else as given (lib/ip.ts). */
export function normalizeAddress(ip: string, ipv6Prefix = 64): string {
  return clientNetwork(ip, ipv6Prefix);
}
