/**
 * Which IP address a request comes from, for per-IP limits and logs: the socket's peer, or —
 * when that peer is a trusted proxy (`--trusted-proxies`) — the client its `X-Forwarded-For`
 * names.
 *
 * `X-Forwarded-For` is a list each proxy appends the address it received the request from to:
 * `client, proxy1, proxy2`. Only the right end is written by proxies we trust; everything to the
 * left of the first untrusted address may be whatever the client sent. So the list is read from
 * the right, skipping trusted addresses, and the first untrusted one is the client. The
 * `Forwarded` header (RFC 7239) is not read: a proxy that maintains `X-Forwarded-For` usually
 * passes `Forwarded` through untouched, and a header the proxy does not rewrite is the client's
 * to choose.
 * @packageDocumentation
 */

import { BlockList, isIP } from 'node:net';
import type { NodeRequest } from '../stream/index.js';

/**
 * Most `X-Forwarded-For` entries read from the right. Real proxy chains are a handful of hops;
 * the bound keeps a trusted proxy relaying a huge client-made header of trusted-looking
 * addresses from costing a check per entry (each is a few µs).
 */
export const MAX_FORWARDED_HOPS = 32;

/** The address of a request whose socket is already gone. */
const UNKNOWN = 'unknown';

/** The proxies whose `X-Forwarded-For` is believed. Make one with {@link parseTrustedProxies}. */
export interface TrustedProxies {
  /** The entries as configured (addresses and CIDR ranges), empty when no proxy is trusted. */
  readonly entries: readonly string[];
  /**
   * Whether `address` (an IPv4 or IPv6 address, IPv4-mapped IPv6 included) is a trusted proxy;
   * false for anything that is not an IP address.
   */
  trusts(address: string): boolean;
}

const ENTRY_HINT =
  'expected an IP address or a CIDR range, e.g. 127.0.0.1, 10.0.0.0/8, ::1, fd00::/8';

/**
 * Reads the `--trusted-proxies` entries: IPv4 and IPv6 addresses and CIDR ranges
 * (`127.0.0.1`, `10.0.0.0/8`, `::1`, `fd00::/8`). An IPv4 entry also matches the IPv4-mapped
 * IPv6 form of its addresses (`::ffff:127.0.0.1`), as a dual-stack socket reports them.
 * @param entries - the entries, each trimmed and non-empty
 * @returns the matcher
 * @throws Error naming the first entry that is not an address or a range
 */
export function parseTrustedProxies(entries: readonly string[]): TrustedProxies {
  const list = new BlockList();
  for (const entry of entries) {
    const slash = entry.indexOf('/');
    const address = slash === -1 ? entry : entry.slice(0, slash);
    const version = isIP(address);
    // A zone index (fe80::1%eth0) names an interface, not a range a request could come from.
    if (version === 0 || address.includes('%')) {
      throw new Error(`"${entry}" is not an IP address or CIDR range: ${ENTRY_HINT}`);
    }
    const family = version === 4 ? 'ipv4' : 'ipv6';
    const bits = version === 4 ? 32 : 128;
    if (slash === -1) {
      list.addAddress(address, family);
      continue;
    }
    const prefix = entry.slice(slash + 1);
    if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > bits) {
      throw new Error(
        `"${entry}": the prefix length after / must be a number from 0 to ${bits} for an ${version === 4 ? 'IPv4' : 'IPv6'} range (${ENTRY_HINT})`,
      );
    }
    list.addSubnet(address, Number(prefix), family);
  }
  const frozen = [...entries];
  return {
    entries: frozen,
    trusts(candidate) {
      if (frozen.length === 0) return false;
      const version = isIP(candidate);
      if (version === 0) return false;
      try {
        return list.check(candidate, version === 4 ? 'ipv4' : 'ipv6');
      } catch {
        return false;
      }
    },
  };
}

/** No proxy is trusted: every request's address is its socket's. */
export const NO_TRUSTED_PROXIES: TrustedProxies = parseTrustedProxies([]);

/**
 * An address in the form used as a limit key and in logs: lower case, and an IPv4-mapped IPv6
 * address (`::ffff:10.0.0.1`, what a dual-stack socket reports for an IPv4 peer) as plain IPv4,
 * so that one client is one key however it reached the hub.
 */
function canonical(address: string): string {
  const lower = address.toLowerCase();
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(lower);
  return mapped !== null && isIP(mapped[1]!) === 4 ? mapped[1]! : lower;
}

/**
 * Reads one `X-Forwarded-For` entry: an IPv4 address, an IPv6 address, either with a port
 * (`203.0.113.7:41234`, `[2001:db8::1]:443`, as some proxies write them), or a bracketed IPv6
 * address.
 * @param text - the entry, surrounding whitespace allowed
 * @returns the address in canonical form, or `undefined` when the entry is not an address
 */
export function parseForwardedAddress(text: string): string | undefined {
  const token = text.trim();
  let address = token;
  if (token.startsWith('[')) {
    const close = token.indexOf(']');
    const rest = token.slice(close + 1);
    if (close === -1 || (rest !== '' && !/^:\d{1,5}$/.test(rest))) return undefined;
    address = token.slice(1, close);
    if (isIP(address) !== 6) return undefined;
  } else if (/^[\d.]+:\d{1,5}$/.test(token)) {
    address = token.slice(0, token.indexOf(':'));
    if (isIP(address) !== 4) return undefined;
  }
  // A zone index is local to the proxy's host: it does not identify a client.
  if (isIP(address) === 0 || address.includes('%')) return undefined;
  return canonical(address);
}

/**
 * The client address of a request from `peer` carrying `forwardedFor` (its `X-Forwarded-For`).
 *
 * - An untrusted peer's header is ignored entirely: the peer is the client.
 * - From a trusted peer, the header is read from the right: trusted addresses are skipped (they
 *   are proxies of ours) and the first untrusted one is the client. When every entry is
 *   trusted, the leftmost one is.
 * - An entry that is not an address, or the {@link MAX_FORWARDED_HOPS} bound, stops the walk:
 *   the client is then the last address a trusted hop vouched for (the peer, when it is the
 *   rightmost entry) — never anything further left, which the client may have written.
 *
 * @param peer - the socket's remote address (`undefined` once the socket is gone)
 * @param forwardedFor - the `X-Forwarded-For` header: one string (node joins repeated headers
 *   with commas) or several
 * @param trusted - the trusted proxies
 * @returns the client's address, canonical (IPv4-mapped IPv6 as IPv4), or `'unknown'`
 */
export function resolveClientIp(
  peer: string | undefined,
  forwardedFor: string | readonly string[] | undefined,
  trusted: TrustedProxies,
): string {
  if (peer === undefined || peer === '') return UNKNOWN;
  let client = canonical(peer);
  if (forwardedFor === undefined || !trusted.trusts(peer)) return client;
  const text = typeof forwardedFor === 'string' ? forwardedFor : forwardedFor.join(',');
  // Walk the comma-separated entries from the right without splitting the whole header.
  let end = text.length;
  for (let hops = 0; hops < MAX_FORWARDED_HOPS; hops++) {
    const comma = end === 0 ? -1 : text.lastIndexOf(',', end - 1);
    const address = parseForwardedAddress(text.slice(comma + 1, end));
    if (address === undefined) break;
    client = address;
    if (!trusted.trusts(address) || comma === -1) break;
    end = comma;
  }
  return client;
}

/**
 * The client address function of a server: {@link resolveClientIp} over a request's socket and
 * `X-Forwarded-For` header, HTTP/1.1 and HTTP/2 alike.
 * @param trusted - the trusted proxies
 */
export function createClientIp(trusted: TrustedProxies): (req: NodeRequest) => string {
  return (req) =>
    resolveClientIp(req.socket?.remoteAddress, req.headers['x-forwarded-for'], trusted);
}
