// Open a MaxMind-format (MMDB) country database file: GeoLite2-Country, GeoIP2-Country,
// DB-IP Country Lite, @ip-location-db/*-country-mmdb, or any MMDB whose records carry
// country.iso_code or country_code. Read whole into memory once per config load (a
// country database is a few MB); a reload opens the file again, so replacing it and
// reloading picks up the new data. mmdb-lib is the pure-JavaScript reader the `maxmind`
// package is built on: no native code, no dependencies.
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { Reader, type Response } from 'mmdb-lib';
import { createCountryLookup, type CountryLookup } from './lookup.ts';

export interface CountryDatabase {
  readonly file: string;
  /** sha256 of the file: a reload compares it to tell a replaced database from the same one */
  readonly checksum: string;
  /** the database_type from its metadata, e.g. "GeoLite2-Country" */
  readonly databaseType: string;
  readonly builtAt: Date;
  /** ISO 3166-1 alpha-2 code of a client address, or undefined when it has none */
  readonly countryFor: CountryLookup;
}

/** The file is missing, unreadable or not a usable MMDB; the message tells the admin which. */
export class GeoDatabaseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GeoDatabaseError';
  }
}

export interface OpenOptions {
  readonly cacheSize?: number;
}

const METADATA_MARKER = Buffer.from('abcdef4d61784d696e642e636f6d', 'hex'); // "\xAB\xCD\xEFMaxMind.com"
const DATA_SECTION_SEPARATOR = 16;
// Well-known public resolvers: walking the tree for them reaches real records in any
// full database, so a damaged tree or data section shows up at load, not per request.
const PROBES = ['1.1.1.1', '8.8.8.8', '9.9.9.9', '2001:4860:4860::8888'];

export function openCountryDatabase(file: string, options: OpenOptions = {}): CountryDatabase {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new GeoDatabaseError(`cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)}); give the path of a MaxMind-format .mmdb file such as GeoLite2-Country.mmdb`);
  }
  return countryDatabaseFromBytes(bytes, file, options);
}

export function countryDatabaseFromBytes(bytes: Buffer, file: string, options: OpenOptions = {}): CountryDatabase {
  const notMmdb = (why: string) =>
    new GeoDatabaseError(`${file} is not a usable MaxMind-format database (${why}); download a country database in MMDB format, such as GeoLite2-Country.mmdb, and point geo.database at it`);
  if (bytes.lastIndexOf(METADATA_MARKER) < 0) throw notMmdb('no MaxMind DB metadata found');

  let reader: Reader<Response>;
  try {
    reader = new Reader<Response>(bytes);
  } catch (err) {
    throw notMmdb(`unreadable metadata: ${(err as Error).message}`);
  }
  const m = reader.metadata;
  if (m.binaryFormatMajorVersion !== 2) throw notMmdb(`binary format version ${String(m.binaryFormatMajorVersion)}, expected 2`);
  if (m.ipVersion !== 4 && m.ipVersion !== 6) throw notMmdb(`ip_version ${String(m.ipVersion)}, expected 4 or 6`);
  if (!Number.isInteger(m.nodeCount) || m.nodeCount < 1 || m.searchTreeSize + DATA_SECTION_SEPARATOR > bytes.length) {
    throw notMmdb('the search tree is larger than the file; it may be truncated');
  }
  for (const probe of PROBES) {
    if (m.ipVersion === 4 && probe.includes(':')) continue;
    try {
      reader.get(probe);
    } catch (err) {
      throw notMmdb(`looking up ${probe} failed: ${(err as Error).message}; the file may be damaged or truncated`);
    }
  }

  return Object.freeze({
    file,
    checksum: createHash('sha256').update(bytes).digest('hex'),
    databaseType: typeof m.databaseType === 'string' ? m.databaseType : 'unknown',
    builtAt: m.buildEpoch,
    countryFor: createCountryLookup(reader, { ipVersion: m.ipVersion, cacheSize: options.cacheSize }),
  });
}
