// geo.database is opened and checked when the configuration loads: a missing or bad file
// is a configuration error at the key's line, never a failure on the first request.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfigText } from '../../src/config/load.ts';
import { compileConfig } from '../../src/config/compile.ts';
import { ConfigError, type ConfigProblem } from '../../src/errors.ts';
import { writeMmdb } from '../helpers/mmdb.ts';

const dir = mkdtempSync(join(tmpdir(), 'portcullis-geo-'));

function configWith(database: string): string {
  return `public_url: https://access.example.com
geo:
  country_header: CF-IPCountry
  database: ${database}
routes:
  - { name: app, from: "https://app.example.com", to: "http://10.0.0.5", public: true }
`;
}

function problemsOf(text: string): ConfigProblem[] {
  try {
    compileConfig(loadConfigText(text, 'portcullis.yaml', {}));
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  throw new Error('expected the configuration to be rejected');
}

function file(name: string, bytes: Buffer | string): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

describe('geo.database in the configuration', () => {
  it('a file that cannot be read is an error at the line of geo.database', () => {
    const missing = join(dir, 'missing.mmdb');
    const [p, ...rest] = problemsOf(configWith(missing));
    expect(rest).toEqual([]);
    expect(p).toMatchObject({ file: 'portcullis.yaml', line: 4, path: 'geo.database' });
    expect(p!.message).toContain(`cannot read ${missing} (ENOENT)`);
  });

  it('a file that is not a MaxMind database is an error that says what to use instead', () => {
    const csv = file('country.csv', '1.0.0.0,1.0.0.255,AU\n');
    const [p] = problemsOf(configWith(csv));
    expect(p).toMatchObject({ line: 4, path: 'geo.database' });
    expect(p!.message).toMatch(/is not a usable MaxMind-format database \(no MaxMind DB metadata found\).*GeoLite2-Country\.mmdb/);
  });

  it('a truncated database is an error', () => {
    const whole = writeMmdb([{ cidr: '1.1.1.0/24', data: { country: { iso_code: 'AU' } } }, { cidr: '8.8.8.0/24', data: { country: { iso_code: 'US' } } }]);
    // keep the metadata at the end, lose most of the search tree before it
    const truncated = file('truncated.mmdb', whole.subarray(whole.length - 300));
    const [p] = problemsOf(configWith(truncated));
    expect(p).toMatchObject({ line: 4, path: 'geo.database' });
    expect(p!.message).toContain('is not a usable MaxMind-format database');
  });

  it('a valid database is opened once at load, and compiling again reads the file again', () => {
    const path = file('country.mmdb', writeMmdb([{ cidr: '81.2.69.0/24', data: { country: { iso_code: 'DE' } } }]));
    const first = compileConfig(loadConfigText(configWith(path), 'portcullis.yaml', {}));
    expect(first.geo.header).toBe('cf-ipcountry');
    expect(first.geo.database?.countryFor('81.2.69.1')).toBe('DE');

    writeFileSync(path, writeMmdb([{ cidr: '81.2.69.0/24', data: { country: { iso_code: 'AT' } } }]));
    const second = compileConfig(loadConfigText(configWith(path), 'portcullis.yaml', {}));
    expect(second.checksum).toBe(first.checksum); // same YAML...
    expect(second.geo.database?.checksum).not.toBe(first.geo.database?.checksum); // ...new database
    expect(second.geo.database?.countryFor('81.2.69.1')).toBe('AT');
    expect(first.geo.database?.countryFor('81.2.69.1')).toBe('DE'); // the old snapshot is untouched
  });

  it('without geo.database there is no lookup', () => {
    const config = compileConfig(loadConfigText(`public_url: https://access.example.com
routes:
  - { name: app, from: "https://app.example.com", to: "http://10.0.0.5", public: true }
`, 'portcullis.yaml', {}));
    expect(config.geo).toEqual({ header: undefined, database: undefined });
  });
});
