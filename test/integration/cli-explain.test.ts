// `portcullis explain` and `portcullis test` through the real entry point under node.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { writeConfig } from '../helpers/servers.ts';

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
  it('exits 2 on bad input', () => {
    expect(run(['explain', '--config', config]).status).toBe(2);
  });
});
