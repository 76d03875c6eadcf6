// `portcullis explain` and `portcullis test` through the real entry point under node.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, writeConfig } from '../helpers/servers.ts';
import { writeMmdb } from '../helpers/mmdb.ts';

const cli = join(import.meta.dirname, '..', '..', 'src', 'cli.ts');
const config = writeConfig(`listen: { address: "127.0.0.1:0" }
public_url: https://access.example.com
identity_provider: { issuer: https://login.example.com, client_id: portcullis, client_secret: x }
networks: { corp: [10.0.0.0/8] }
policies:
  finance:
    allow: [ { groups: [finance], network: [corp] } ]
routes:
  - { name: payroll, from: https://payroll.example.com, to: http://10.0.3.4:8080, policy: finance }
`);
const run = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

describe('portcullis explain', () => {
  it('exits 0 and names the rule when the request would be allowed', () => {
    const r = run(['explain', '--config', config, '--url', 'https://payroll.example.com/x', '--user', 'bob', '--groups', 'finance', '--ip', '10.1.2.3']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/allow/i);
    expect(r.stdout).toContain('payroll');
  });
  it('exits 1 with the reasons when it would be denied', () => {
    const r = run(['explain', '--config', config, '--url', 'https://payroll.example.com/x', '--user', 'bob', '--groups', 'finance', '--ip', '192.0.2.1']);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('network');
  });
  it('finds the country of --ip in the geo database, as the proxy would', () => {
    const db = join(tempDir('explain-geo-'), 'country.mmdb');
    writeFileSync(db, writeMmdb([{ cidr: '81.2.69.0/24', data: { country: { iso_code: 'DE' } } }]));
    const withGeo = writeConfig(`listen: { address: "127.0.0.1:0" }
public_url: https://access.example.com
identity_provider: { issuer: https://login.example.com, client_id: portcullis, client_secret: x }
geo: { database: ${JSON.stringify(db)} }
routes:
  - { name: eu, from: https://eu.example.com, to: http://10.0.3.4:8080, policy: { allow: [ { country: [DE] } ] } }
`);
    const args = ['explain', '--config', withGeo, '--url', 'https://eu.example.com/', '--user', 'bob'];
    expect(run([...args, '--ip', '81.2.69.160']).status).toBe(0);
    const elsewhere = run([...args, '--ip', '8.8.8.8']);
    expect(elsewhere.status).toBe(1);
    expect(elsewhere.stdout).toContain('country');
    // an explicit --country still wins
    expect(run([...args, '--ip', '8.8.8.8', '--country', 'DE']).status).toBe(0);
  });
  it('exits 2 on bad input', () => {
    expect(run(['explain', '--config', config]).status).toBe(2);
  });
});
