// The test-only MMDB writer produces files the reference reader (mmdb-lib) reads back
// exactly: otherwise every geo test would be testing the writer's bugs.
import { describe, expect, it } from 'vitest';
import { Reader, type Response } from 'mmdb-lib';
import { writeMmdb } from '../helpers/mmdb.ts';

describe('the test MMDB writer', () => {
  it('writes an IPv6 tree with IPv4 networks under ::/96 that mmdb-lib reads back, metadata and all', () => {
    const file = writeMmdb(
      [
        { cidr: '81.2.69.0/24', data: { country: { iso_code: 'DE', names: { en: 'Germany' } } } },
        { cidr: '175.45.176.0/22', data: { country: { iso_code: 'KP' }, registered_country: { iso_code: 'KP' } } },
        { cidr: '2a02:2e0::/32', data: { country_code: 'FR' } },
      ],
      { databaseType: 'Test-Country', buildEpoch: 1_700_000_000 },
    );
    const reader = new Reader<Response>(file);
    expect(reader.metadata).toMatchObject({
      binaryFormatMajorVersion: 2,
      ipVersion: 6,
      recordSize: 24,
      databaseType: 'Test-Country',
      languages: ['en'],
      description: { en: 'Portcullis test country database' },
    });
    expect(reader.metadata.buildEpoch.toISOString()).toBe('2023-11-14T22:13:20.000Z');
    expect(reader.get('81.2.69.142')).toEqual({ country: { iso_code: 'DE', names: { en: 'Germany' } } });
    expect(reader.getWithPrefixLength('81.2.69.1')[1]).toBe(24);
    expect(reader.get('175.45.179.255')).toEqual({ country: { iso_code: 'KP' }, registered_country: { iso_code: 'KP' } });
    expect(reader.get('175.45.180.0')).toBeNull();
    expect(reader.get('2a02:2e0:1234::1')).toEqual({ country_code: 'FR' });
    expect(reader.get('2a02:2e1::1')).toBeNull();
    expect(reader.get('9.9.9.9')).toBeNull();
  });

  it('writes an IPv4-only tree', () => {
    const reader = new Reader<Response>(writeMmdb([{ cidr: '8.8.8.0/24', data: { country_code: 'US' } }], { ipVersion: 4 }));
    expect(reader.metadata.ipVersion).toBe(4);
    expect(reader.get('8.8.8.8')).toEqual({ country_code: 'US' });
    expect(reader.get('8.8.9.8')).toBeNull();
  });

  it('encodes long strings, arrays, booleans and integers of every size class', () => {
    const data = { long: 'x'.repeat(300), longer: 'y'.repeat(70_000), list: ['a', 'b'], flag: true, off: false, n: 0, big: 4_000_000_000 };
    const reader = new Reader<Response>(writeMmdb([{ cidr: '1.0.0.0/8', data }]));
    expect(reader.get('1.2.3.4')).toEqual(data);
  });
});
