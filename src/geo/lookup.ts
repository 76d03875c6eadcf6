// Client address -> ISO country code, over any MMDB-shaped record source. No file I/O here:
// database.ts opens the file; this decides which addresses to look up, which record
// fields count as the country, and remembers answers (client addresses repeat).
import ipaddr from 'ipaddr.js';
import { parseIp } from '../request/client-ip.ts';
import { countryCode } from '../policy/criteria/country.ts';

/** What a lookup needs from a reader: mmdb-lib's Reader#get has this shape. */
export interface RecordSource {
  get(ip: string): unknown;
}

/** ISO 3166-1 alpha-2 code, or undefined when the address has no known country. */
export type CountryLookup = (ip: string) => string | undefined;

export interface LookupOptions {
  /** 4: the tree holds IPv4 only, so IPv6 addresses have no answer */
  readonly ipVersion: 4 | 6;
  /** answers remembered; the oldest is forgotten first. Default 10,000. */
  readonly cacheSize?: number;
}

/**
 * The country in one database record. GeoIP2/GeoLite2 and DB-IP put it in
 * `country.iso_code`; where the network's location is unknown they may only have
 * `registered_country.iso_code` (the registrant's country), which is still better than
 * nothing; @ip-location-db and other free country databases use a flat `country_code`.
 * Placeholders such as "XX" and anything that is not two letters count as unknown.
 */
export function countryOfRecord(record: unknown): string | undefined {
  if (record === null || typeof record !== 'object') return undefined;
  const r = record as { country?: unknown; registered_country?: unknown; country_code?: unknown };
  return countryCode(isoCodeOf(r.country)) ?? countryCode(isoCodeOf(r.registered_country)) ?? countryCode(r.country_code);
}

function isoCodeOf(value: unknown): unknown {
  return value !== null && typeof value === 'object' ? (value as { iso_code?: unknown }).iso_code : undefined;
}

// Addresses no public database can place: private, loopback, link-local, CGNAT,
// documentation and other special ranges. They simply have no country.
const PUBLIC_V6_RANGES: ReadonlySet<string> = new Set(['unicast', '6to4', 'teredo']);

/** True for addresses worth asking a geo database about. */
export function isPublicAddress(address: ipaddr.IPv4 | ipaddr.IPv6): boolean {
  const range = address.range();
  return address.kind() === 'ipv4' ? range === 'unicast' : PUBLIC_V6_RANGES.has(range);
}

export function createCountryLookup(source: RecordSource, options: LookupOptions): CountryLookup {
  const cacheSize = Math.max(1, options.cacheSize ?? 10_000);
  // Bounded: behind a CDN every visitor's address reaches here. null = "no country".
  const cache = new Map<string, string | null>();

  const uncached = (ip: string): string | undefined => {
    const address = parseIp(ip);
    if (!address || !isPublicAddress(address)) return undefined;
    if (address.kind() === 'ipv6' && options.ipVersion === 4) return undefined;
    try {
      return countryOfRecord(source.get(address.toString()));
    } catch {
      // A damaged record must not fail the request; an unknown country fails closed in policies.
      return undefined;
    }
  };

  return (ip: string) => {
    const hit = cache.get(ip);
    if (hit !== undefined) return hit ?? undefined;
    const country = uncached(ip);
    if (cache.size >= cacheSize) cache.delete(cache.keys().next().value!);
    cache.set(ip, country ?? null);
    return country;
  };
}
