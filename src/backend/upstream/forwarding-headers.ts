/**
 * The headers of a forwarded request and its answer: hop-by-hop stripping, forwarding headers
 * believed from trusted proxies only, the gateway's own `X-Forwarded-*`, and exactly one API
 * version header on the answer.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { API_VERSION, API_VERSION_HEADER } from '../../oci/api-version.js';
import { oneHeaderValue } from '../../lib/header-value.js';
import type { ForwardingFacts } from '../backend.js';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

/**
 * Headers that say where a request came from or what it asked for, as proxies set them (and as
 * registries read them to build absolute URLs: Distribution takes `X-Forwarded-Host`, `Forwarded`
 * and `X-Forwarded-Port` for the host of a Location). Only a trusted proxy's are believed; from
 * anyone else they are dropped, in every spelling (CGI-style servers read `_` as `-`).
 */
const FORWARDING = new Set([
  'forwarded',
  'x-real-ip',
  'x-original-url',
  'x-original-uri',
  'x-original-host',
  'x-original-forwarded-for',
  'x-rewrite-url',
  'x-host',
  'x-client-ip',
  'x-cluster-client-ip',
  'x-proxyuser-ip',
  'true-client-ip',
  'client-ip',
  'cf-connecting-ip',
  'fastly-client-ip',
  'front-end-https',
  'x-url-scheme',
]);

export function isForwardingHeader(name: string): boolean {
  const dashed = name.toLowerCase().replace(/_/g, '-');
  return dashed.startsWith('x-forwarded-') || FORWARDING.has(dashed);
}

/** The forwarding headers the gateway itself sets on every upstream request. */
const SET_BY_GATEWAY = new Set(['x-forwarded-for', 'x-real-ip', 'x-forwarded-proto']);

/**
 * Headers a `Connection` list may not remove: the request is decided on them (Host for the
 * registry's URLs, the body's framing and type, the credentials forwarded in bearer mode) or the
 * gateway sets them, so a client must not be able to take them away from the registry behind.
 */
const NEVER_CONNECTION_OPTIONS = new Set(['host', 'content-length', 'content-type', 'content-range', 'content-encoding', 'authorization']);

/** Names listed in `Connection:` are hop-by-hop too (RFC 9110 §7.6.1), except those above and forwarding headers. */
function connectionOptions(headers: IncomingHttpHeaders | Record<string, unknown>): Set<string> {
  const value = headers['connection'];
  const names = new Set<string>();
  if (typeof value !== 'string') return names;
  for (const raw of value.split(',')) {
    const name = raw.trim().toLowerCase();
    if (name !== '' && !NEVER_CONNECTION_OPTIONS.has(name) && !isForwardingHeader(name)) names.add(name);
  }
  return names;
}

/**
 * The one `Range` forwarded: a single byte range (RFC 9110 §14.1.2) of positions that fit a
 * Number, the first not past the last. Any other is dropped, as RFC 9110 lets a server ignore it
 * and the built-in registry does (the whole blob, 200): Distribution answered such ranges with a
 * plain-text 416 or, for a list of ranges, a multipart body of as many parts as the client named.
 */
function isSingleByteRange(value: string | string[]): boolean {
  if (typeof value !== 'string') return false;
  const match = /^bytes=(\d{0,15})-(\d{0,15})$/.exec(value.trim());
  if (!match) return false;
  const [, first = '', last = ''] = match;
  if (first === '') return last !== '' && Number(last) > 0;
  return last === '' || Number(first) <= Number(last);
}

export function isHopByHop(name: string, listed: ReadonlySet<string>): boolean {
  return HOP_BY_HOP.has(name) || listed.has(name);
}

/**
 * Request headers for the upstream: the client's own minus hop-by-hop and `dropped` ones, with
 * the recipe's `Host`, `X-Real-IP`, `X-Forwarded-For` and `X-Forwarded-Proto`. Incoming forwarding
 * headers survive only from a trusted proxy (the load-balancer case); from anyone else every one
 * of them is dropped and only the gateway's own are set.
 */
export function upstreamRequestHeaders(
  headers: IncomingHttpHeaders,
  facts: ForwardingFacts,
  dropped: ReadonlySet<string>,
): Record<string, string | string[]> {
  const listed = connectionOptions(headers);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || isHopByHop(name, listed) || dropped.has(name) || SET_BY_GATEWAY.has(name)) continue;
    if (!facts.peerTrusted && isForwardingHeader(name)) continue;
    if (name === 'range' && !isSingleByteRange(value)) continue;
    out[name] = value;
  }
  const incomingFor = facts.peerTrusted ? oneHeaderValue(headers['x-forwarded-for'])?.trim() : undefined;
  out['x-forwarded-for'] = incomingFor ? `${incomingFor}, ${facts.peer}` : facts.peer;
  const realIp = facts.peerTrusted ? oneHeaderValue(headers['x-real-ip'])?.trim() : undefined;
  out['x-real-ip'] = realIp || facts.peer;
  const proto = facts.peerTrusted ? oneHeaderValue(headers['x-forwarded-proto'])?.trim() : undefined;
  out['x-forwarded-proto'] = proto || facts.scheme;
  return out;
}

/** Response headers from the upstream, hop-by-hop removed, exactly one API version header. */
export function clientResponseHeaders(headers: Record<string, string | string[] | undefined>): OutgoingHttpHeaders {
  const listed = connectionOptions(headers);
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || isHopByHop(name, listed) || name === API_VERSION_HEADER) continue;
    out[name] = value;
  }
  out[API_VERSION_HEADER] = API_VERSION;
  return out;
}
