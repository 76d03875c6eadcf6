// Where the client is, for the `country` policy criterion. Two sources, in this order:
// 1. a country header from a trusted proxy (CF-IPCountry...): a CDN has seen the real
//    client and may know better than any database, e.g. for its own anycast ranges;
// 2. the geo database, on the client address (already trusted-proxy-aware: a client
//    cannot pick its address, and so its country, with X-Forwarded-For).
// Neither answers for private and loopback addresses: those have no country.
import type { IncomingHttpHeaders } from 'node:http';
import { countryCode } from '../policy/criteria/country.ts';
import { GeoDatabaseError, openCountryDatabase, type CountryDatabase } from './database.ts';

export interface CompiledGeo {
  /** lower-case header carrying the client's country, believed from trusted proxies only */
  readonly header: string | undefined;
  /** the geo.database file, opened and checked at config load */
  readonly database: CountryDatabase | undefined;
}

export interface GeoSettings {
  readonly country_header?: string | undefined;
  readonly database?: string | undefined;
}

/** At config load: open the database now, so a bad file is a config error and never a request error. */
export function compileGeo(raw: GeoSettings, problem: (path: readonly PropertyKey[], message: string) => void): CompiledGeo {
  let database: CountryDatabase | undefined;
  if (raw.database !== undefined) {
    try {
      database = openCountryDatabase(raw.database);
    } catch (err) {
      if (!(err instanceof GeoDatabaseError)) throw err;
      problem(['database'], err.message);
    }
  }
  return Object.freeze({ header: raw.country_header?.toLowerCase(), database });
}

export interface ClientFacts {
  /** the TCP peer is one of trusted_proxies */
  readonly peerTrusted: boolean;
  /** the client address after trusted-proxy processing */
  readonly clientIp: string;
}

/** The request's ISO 3166-1 alpha-2 country, or undefined when unknown. */
export function requestCountry(headers: IncomingHttpHeaders, client: ClientFacts, geo: CompiledGeo): string | undefined {
  // Only a trusted proxy may say where the client is; anyone else could claim any country.
  if (geo.header && client.peerTrusted) {
    const fromProxy = countryCode(headers[geo.header]);
    if (fromProxy !== undefined) return fromProxy;
    // No usable header ("XX", absent): fall through to the database, which sees the same client address.
  }
  return geo.database?.countryFor(client.clientIp);
}
