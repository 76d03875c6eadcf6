// Pure: who is the client? The TCP peer, unless the peer is a proxy we were told to
// trust; only then do we read X-Forwarded-For, and only the hops added by trusted proxies.
// Anyone can write X-Forwarded-For, so believing it from an untrusted peer would let a
// client pick its own address and walk past network rules.
import ipaddr from 'ipaddr.js';

export type IpMatcher = (address: string) => boolean;

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

export function compileIpMatcher(ranges: readonly Range[]): IpMatcher {
  if (ranges.length === 0) return () => false;
  const v4 = ranges.filter(([a]) => a.kind() === 'ipv4') as [ipaddr.IPv4, number][];
  const v6 = ranges.filter(([a]) => a.kind() === 'ipv6') as [ipaddr.IPv6, number][];
  const cache = new Map<string, boolean>();
  return (address: string) => {
    const hit = cache.get(address);
    if (hit !== undefined) return hit;
    let result = false;
    const parsed = parseIp(address);
    if (parsed) {
      const list = parsed.kind() === 'ipv4' ? v4 : v6;
      result = list.some((range) => (parsed as ipaddr.IPv4).match(range as [ipaddr.IPv4, number]));
    }
    if (cache.size > 10_000) cache.clear(); // bounded: peers are few, but X-Forwarded-For values are attacker-chosen
    cache.set(address, result);
    return result;
  };
}

/** Parse an address, turning IPv4-mapped IPv6 ("::ffff:10.0.0.1") into plain IPv4. */
export function parseIp(address: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  try {
    const a = ipaddr.parse(address);
    return a.kind() === 'ipv6' && (a as ipaddr.IPv6).isIPv4MappedAddress() ? (a as ipaddr.IPv6).toIPv4Address() : a;
  } catch {
    return undefined;
  }
}

// Parsing an address costs 2-10 µs and runs twice per request for the same few peers: remember
// the answers. Bounded, because X-Forwarded-For hops reach here too and are attacker-chosen.
const canonical = new Map<string, string>();

export function canonicalIp(address: string): string {
  let text = canonical.get(address);
  if (text === undefined) {
    text = parseIp(address)?.toString() ?? address;
    if (canonical.size >= 10_000) canonical.clear();
    canonical.set(address, text);
  }
  return text;
}

/**
 * @param peer the socket's remote address
 * @param forwardedFor every X-Forwarded-For header value, in order
 */
export function clientAddress(peer: string, forwardedFor: string | undefined, isTrusted: IpMatcher): string {
  const peerIp = canonicalIp(peer);
  if (!forwardedFor || !isTrusted(peerIp)) return peerIp;
  // Walk right to left: each hop was appended by the proxy before it. The first hop
  // that is not a trusted proxy is the client; anything left of it is the client's own claim.
  const hops = forwardedFor.split(',');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!.trim();
    const ip = parseIp(hop);
    // Garbage in the chain: report it as is. It matches no network rule, whereas falling back
    // to the peer would hand the client the trusted proxy's own (often internal) address.
    if (!ip) return hop;
    const text = ip.toString();
    if (!isTrusted(text)) return text;
  }
  // Every hop is a trusted proxy: the leftmost one originated the request.
  return canonicalIp(hops[0]!.trim());
}
