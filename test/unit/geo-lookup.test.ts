// Country lookup from a MaxMind-format database: which record fields count, which
// addresses are never looked up, the bounded cache, and the header-then-database order.
import { describe, expect, it } from 'vitest';
import { Reader, type Response } from 'mmdb-lib';
import { writeMmdb, type MmdbNetwork } from '../helpers/mmdb.ts';
import { countryDatabaseFromBytes } from '../../src/geo/database.ts';
import { countryOfRecord, createCountryLookup, type RecordSource } from '../../src/geo/lookup.ts';
import { requestCountry, type CompiledGeo } from '../../src/geo/country.ts';

const networks: MmdbNetwork[] = [
  { cidr: '81.2.69.0/24', data: { country: { iso_code: 'DE' }, registered_country: { iso_code: 'DE' } } },
  { cidr: '175.45.176.0/22', data: { country: { iso_code: 'KP' } } },
  // an anycast network: located nowhere, registered in the US
  { cidr: '104.16.0.0/13', data: { registered_country: { iso_code: 'US' } } },
  // the flat layout of @ip-location-db/*-country-mmdb
  { cidr: '2.56.8.0/22', data: { country_code: 'nl' } },
  { cidr: '2a02:2e0::/32', data: { country: { iso_code: 'FR' } } },
  { cidr: '5.5.5.0/24', data: { country: { iso_code: 'XX' } } },
  // some databases (and admins' own) map private space too; it must still have no country
  { cidr: '10.0.0.0/8', data: { country: { iso_code: 'DE' } } },
  { cidr: '127.0.0.0/8', data: { country: { iso_code: 'DE' } } },
];
const db = countryDatabaseFromBytes(writeMmdb(networks, { databaseType: 'Test-Country' }), 'test.mmdb');

describe('the country of a database record', () => {
  it('is country.iso_code, else registered_country.iso_code, else a flat country_code', () => {
    expect(countryOfRecord({ country: { iso_code: 'DE' }, registered_country: { iso_code: 'US' } })).toBe('DE');
    expect(countryOfRecord({ registered_country: { iso_code: 'US' } })).toBe('US');
    expect(countryOfRecord({ country_code: 'fr' })).toBe('FR');
    expect(countryOfRecord({ country: { iso_code: 'XX' }, registered_country: { iso_code: 'GB' } })).toBe('GB');
  });

  it('is unknown for placeholders, malformed values and records without one', () => {
    for (const record of [null, 'DE', 42, {}, { country: 'DE' }, { country: { iso_code: 'DEU' } }, { country: { iso_code: 'XX' } }, { country_code: 'T1' }, { country: { names: { en: 'Germany' } } }]) {
      expect(countryOfRecord(record), JSON.stringify(record)).toBeUndefined();
    }
  });
});

describe('looking up a client address in the database', () => {
  it('finds the country of an address in a known network, in every record layout', () => {
    expect(db.countryFor('81.2.69.142')).toBe('DE');
    expect(db.countryFor('175.45.176.9')).toBe('KP');
    expect(db.countryFor('104.18.1.1')).toBe('US');
    expect(db.countryFor('2.56.9.1')).toBe('NL');
    expect(db.countryFor('2a02:2e0:3fe:1001::1')).toBe('FR');
  });

  it('reads an IPv4-mapped IPv6 address as its IPv4 address', () => {
    expect(db.countryFor('::ffff:81.2.69.142')).toBe('DE');
  });

  it('has no country for an address outside every network, a placeholder, or something that is not an address', () => {
    expect(db.countryFor('9.9.9.9')).toBeUndefined();
    expect(db.countryFor('2001:4860:4860::8888')).toBeUndefined();
    expect(db.countryFor('5.5.5.5')).toBeUndefined();
    expect(db.countryFor('not-an-ip')).toBeUndefined();
    expect(db.countryFor('')).toBeUndefined();
  });

  it('has no country for private, loopback and other special addresses, even where the database maps them', () => {
    for (const ip of ['10.1.2.3', '127.0.0.1', '192.168.1.1', '172.16.0.1', '100.64.0.1', '169.254.1.1', '::1', 'fd00::1', 'fe80::1', '0.0.0.0']) {
      expect(db.countryFor(ip), ip).toBeUndefined();
    }
  });

  it('answers only IPv4 addresses from an IPv4-only database', () => {
    const v4 = countryDatabaseFromBytes(writeMmdb([{ cidr: '81.2.69.0/24', data: { country_code: 'DE' } }], { ipVersion: 4 }), 'v4.mmdb');
    expect(v4.countryFor('81.2.69.1')).toBe('DE');
    expect(v4.countryFor('::ffff:81.2.69.1')).toBe('DE');
    expect(v4.countryFor('2a02:2e0::1')).toBeUndefined();
  });

  it('describes the database it opened', () => {
    expect(db.databaseType).toBe('Test-Country');
    expect(db.file).toBe('test.mmdb');
    expect(db.checksum).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('the lookup cache', () => {
  function countingReader(): RecordSource & { calls: string[] } {
    const reader = new Reader<Response>(writeMmdb(networks));
    const calls: string[] = [];
    return { calls, get: (ip: string) => (calls.push(ip), reader.get(ip)) };
  }

  it('asks the database once per address, remembering "no country" answers too', () => {
    const source = countingReader();
    const lookup = createCountryLookup(source, { ipVersion: 6 });
    expect([lookup('81.2.69.1'), lookup('81.2.69.1'), lookup('9.9.9.9'), lookup('9.9.9.9')]).toEqual(['DE', 'DE', undefined, undefined]);
    expect(source.calls).toEqual(['81.2.69.1', '9.9.9.9']);
  });

  it('is bounded: beyond its size the oldest answer is forgotten', () => {
    const source = countingReader();
    const lookup = createCountryLookup(source, { ipVersion: 6, cacheSize: 2 });
    lookup('81.2.69.1');
    lookup('81.2.69.2');
    lookup('81.2.69.3'); // forgets .1
    lookup('81.2.69.3');
    lookup('81.2.69.1');
    expect(source.calls).toEqual(['81.2.69.1', '81.2.69.2', '81.2.69.3', '81.2.69.1']);
  });

  it('never asks the database about private addresses', () => {
    const source = countingReader();
    const lookup = createCountryLookup(source, { ipVersion: 6 });
    lookup('10.0.0.1');
    lookup('::1');
    expect(source.calls).toEqual([]);
  });

  it('treats a record the reader cannot decode as no country instead of failing the request', () => {
    const lookup = createCountryLookup({ get: () => { throw new Error('pointer out of range'); } }, { ipVersion: 6 });
    expect(lookup('81.2.69.1')).toBeUndefined();
  });
});

describe('the country of a request', () => {
  const headerAndDb: CompiledGeo = { header: 'cf-ipcountry', database: db };
  const kpClient = { peerTrusted: true, clientIp: '175.45.176.9' };

  it('takes a trusted proxy\'s country header over the database', () => {
    expect(requestCountry({ 'cf-ipcountry': 'ch' }, kpClient, headerAndDb)).toBe('CH');
  });

  it('falls back to the database when the trusted proxy sends no usable country', () => {
    expect(requestCountry({}, kpClient, headerAndDb)).toBe('KP');
    expect(requestCountry({ 'cf-ipcountry': 'XX' }, kpClient, headerAndDb)).toBe('KP');
    expect(requestCountry({ 'cf-ipcountry': 'T1' }, kpClient, headerAndDb)).toBe('KP');
  });

  it('ignores the header from an untrusted peer and looks up the peer\'s own address', () => {
    expect(requestCountry({ 'cf-ipcountry': 'CH' }, { peerTrusted: false, clientIp: '175.45.176.9' }, headerAndDb)).toBe('KP');
    expect(requestCountry({ 'cf-ipcountry': 'CH' }, { peerTrusted: false, clientIp: '127.0.0.1' }, headerAndDb)).toBeUndefined();
  });

  it('is unknown with neither source configured, and header-only works as before', () => {
    expect(requestCountry({ 'cf-ipcountry': 'CH' }, kpClient, { header: undefined, database: undefined })).toBeUndefined();
    expect(requestCountry({ 'cf-ipcountry': 'CH' }, kpClient, { header: 'cf-ipcountry', database: undefined })).toBe('CH');
    expect(requestCountry({}, kpClient, { header: 'cf-ipcountry', database: undefined })).toBeUndefined();
    expect(requestCountry({}, kpClient, { header: undefined, database: db })).toBe('KP');
  });
});
