// network: [corp, 203.0.113.0/24, 2001:db8::/32] — the client address is in one of the
// named networks (top-level `networks`) or CIDR ranges. Ranges are parsed once at load;
// per request an IPv4 address is parsed by hand without allocating. IPv4-mapped IPv6
// addresses (::ffff:10.1.2.3) count as the IPv4 address they carry, so a v4 rule cannot
// be dodged by connecting over a dual-stack socket.
import ipaddr from 'ipaddr.js';
import type { CidrRange, CompileContext, Criterion } from './types.ts';
import { listWords, quoteFact, type Outcome } from '../reasons.ts';

/** Strict dotted-quad decimal (no octal, hex or short forms) -> unsigned 32-bit, or -1. */
export function parseIPv4(text: string): number {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46 /* . */) {
      if (digits === 0 || dots === 3) return -1;
      value = value * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return -1; // leading zero: "010" is octal to some parsers
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return -1;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + part;
}

type Address = { v4: true; value: number } | { v4: false; words: readonly number[] };

export function parseAddress(text: string): Address | undefined {
  if (typeof text !== 'string') return undefined;
  const v4 = parseIPv4(text);
  if (v4 >= 0) return { v4: true, value: v4 };
  if (!text.includes(':')) return undefined;
  try {
    const a = ipaddr.IPv6.parse(text);
    if (a.isIPv4MappedAddress()) {
      const [o1, o2, o3, o4] = a.toIPv4Address().octets as [number, number, number, number];
      return { v4: true, value: ((o1 * 256 + o2) * 256 + o3) * 256 + o4 };
    }
    return { v4: false, words: a.parts };
  } catch {
    return undefined;
  }
}

/** "10.0.0.0/8", "192.168.1.7" (one host), "2001:db8::/32" -> range, or an error message. */
export function parseCidr(text: string): CidrRange | string {
  const [addr = '', bitsText, extra] = String(text).split('/');
  if (extra !== undefined) return `"${text}" is not a CIDR range`;
  if (bitsText !== undefined && !/^\d{1,3}$/.test(bitsText)) return `"${text}" has no valid prefix length after "/"`;
  const v4 = parseIPv4(addr);
  if (v4 >= 0) {
    const bits = bitsText === undefined ? 32 : Number(bitsText);
    if (bits > 32) return `"${text}": an IPv4 prefix length is 0 to 32`;
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    return { v4: true, base: (v4 & mask) >>> 0, mask };
  }
  if (!addr.includes(':') || !ipaddr.IPv6.isValid(addr)) return `"${text}" is not an IP address or CIDR range such as 10.0.0.0/8 or 2001:db8::/32 (IPv4 in plain dotted decimal)`;
  const a = ipaddr.IPv6.parse(addr);
  if (a.isIPv4MappedAddress()) return `"${text}" is an IPv4-mapped IPv6 range; write the IPv4 range instead (mapped client addresses are matched as IPv4)`;
  const bits = bitsText === undefined ? 128 : Number(bitsText);
  if (bits > 128) return `"${text}": an IPv6 prefix length is 0 to 128`;
  return { v4: false, words: a.parts, bits };
}

export function inRange(address: Address, r: CidrRange): boolean {
  if (address.v4) return r.v4 && ((address.value & r.mask) >>> 0) === r.base;
  if (r.v4) return false;
  let bits = r.bits;
  for (let i = 0; i < 8 && bits > 0; i++, bits -= 16) {
    const shift = bits >= 16 ? 0 : 16 - bits;
    if (address.words[i]! >> shift !== r.words[i]! >> shift) return false;
  }
  return true;
}

export function compileNetwork(entries: readonly string[], ctx: CompileContext): Criterion {
  const ranges: CidrRange[] = [];
  entries.forEach((entry, i) => {
    const named = ctx.networks.get(entry);
    if (named) return void ranges.push(...named);
    const looksLikeAddress = /^[0-9a-fA-F:.]+(\/\d+)?$/.test(entry) && /[.:]/.test(entry);
    if (!looksLikeAddress) {
      const known = [...ctx.networks.keys()];
      return ctx.report([i], `unknown network "${entry}"; define it under networks:${known.length ? ` (defined: ${known.join(', ')})` : ''}, or write a CIDR range such as 10.0.0.0/8`);
    }
    const r = parseCidr(entry);
    if (typeof r === 'string') ctx.report([i], r);
    else ranges.push(r);
  });
  const v4 = ranges.filter((r) => r.v4);
  const v6 = ranges.filter((r) => !r.v4);
  const outcomeFor = (address: Address): Outcome => {
    for (const r of address.v4 ? v4 : v6) if (inRange(address, r)) return 'pass';
    return 'fail';
  };
  // The same few client addresses come back request after request, and reading one is most of
  // the check: remember the outcome per address text. Bounded, because a trusted proxy's
  // X-Forwarded-For can bring any number of them.
  const outcomes = new Map<string, Outcome>();
  return {
    name: 'network',
    base: 'network',
    describe: `you connect from the network ${listWords(entries)}`,
    passCode: 'network-ok',
    test(facts) {
      const ip = facts.request?.clientIp;
      if (ip === undefined) return 'unknown';
      let outcome = outcomes.get(ip);
      if (outcome === undefined) {
        const a = parseAddress(ip);
        outcome = a ? outcomeFor(a) : 'unknown';
        if (outcomes.size >= 10_000) outcomes.clear();
        outcomes.set(ip, outcome);
      }
      return outcome;
    },
    explain(facts) {
      const ip = facts.request?.clientIp;
      if (!parseAddress(ip)) return { code: 'client-ip-unknown', message: `This app is only reachable from ${listWords(entries)}, and your address (${quoteFact(ip ?? 'none')}) could not be read.` };
      return { code: 'network-unauthorized', message: `This app is only reachable from ${listWords(entries)}; you connect from ${quoteFact(ip)}. Connect through the corporate network or VPN.` };
    },
  };
}
