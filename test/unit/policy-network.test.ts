// network: client address in named networks or CIDR ranges; IPv4-mapped IPv6 counts as IPv4.
import { describe, expect, it } from 'vitest';
import { criterion, facts, outcome } from './policy-fixtures.ts';
import { parseCidr, parseIPv4 } from '../../src/policy/criteria/network.ts';
import { compileStandalonePolicy } from '../../src/policy/compile.ts';

const networks = { corp: ['10.0.0.0/8', '192.168.10.0/24'], v6office: ['2001:db8:100::/48'] };
const at = (clientIp: string) => facts({ request: { clientIp } });

describe('network', () => {
  const rule = { network: ['corp', 'v6office', '203.0.113.7'] };
  it.each<[string, string, string]>([
    ['inside a named v4 range', '10.200.1.1', 'pass'],
    ['the edge of a range', '10.255.255.255', 'pass'],
    ['just outside a range', '11.0.0.0', 'fail'],
    ['a /24 in the same network', '192.168.10.77', 'pass'],
    ['the neighbouring /24', '192.168.11.1', 'fail'],
    ['a single listed host', '203.0.113.7', 'pass'],
    ['the host next to it', '203.0.113.8', 'fail'],
    ['IPv4-mapped IPv6 counts as IPv4', '::ffff:10.1.2.3', 'pass'],
    ['IPv4-mapped IPv6 outside', '::ffff:11.1.2.3', 'fail'],
    ['inside a v6 range', '2001:db8:100:5::1', 'pass'],
    ['outside a v6 range', '2001:db8:101::1', 'fail'],
    ['an empty address is unknown', '', 'unknown'],
    ['garbage is unknown', 'not-an-ip', 'unknown'],
    ['octal-looking IPv4 is unknown, never guessed', '010.0.0.1', 'unknown'],
    ['short IPv4 forms are unknown', '10.1', 'unknown'],
    ['out-of-range octets are unknown', '10.0.0.256', 'unknown'],
    ['an address with a port is unknown', '10.0.0.1:443', 'unknown'],
  ])('%s (%s)', (_, ip, want) => expect(outcome(rule, at(ip), networks)).toBe(want));

  it('gives the same answers from its memory of addresses seen, also past its bound', () => {
    const c = criterion(rule, networks);
    const ask = (ip: string) => c.test(at(ip), false);
    for (let round = 0; round < 2; round++) {
      expect([ask('10.200.1.1'), ask('11.0.0.0'), ask('garbage'), ask('2001:db8:100:5::1')]).toEqual(['pass', 'fail', 'unknown', 'pass']);
    }
    for (let i = 0; i < 10_050; i++) ask(`172.16.${i >> 8}.${i & 255}`);
    expect([ask('10.200.1.1'), ask('11.0.0.0'), ask('172.16.0.1')]).toEqual(['pass', 'fail', 'fail']);
  });

  it('a missing request fact is unknown', () => {
    expect(criterion(rule, networks).test({ now: 0, request: {} as never }, false)).toBe('unknown');
  });

  it('parses CIDRs strictly and masks host bits', () => {
    expect(parseCidr('10.1.2.3/8')).toEqual({ v4: true, base: 0x0a000000, mask: 0xff000000 });
    expect(parseCidr('0.0.0.0/0')).toEqual({ v4: true, base: 0, mask: 0 });
    expect(parseCidr('10.0.0.0/33')).toMatch(/0 to 32/);
    expect(parseCidr('10.0/8')).toMatch(/not an IP address/);
    expect(parseCidr('::ffff:10.0.0.0/104')).toMatch(/IPv4-mapped/);
    expect(parseIPv4('255.255.255.255')).toBe(0xffffffff);
  });

  it('reports unknown network names and bad ranges with their key paths', () => {
    expect(() => compileStandalonePolicy({ allow: [{ network: ['corp', 'lab', '10.0.0.0/99'] }] }, { networks })).toThrow(
      /allow\[0\]\.network\[1\]: unknown network "lab".*\n.*allow\[0\]\.network\[2\]: "10\.0\.0\.0\/99"/,
    );
    expect(() => compileStandalonePolicy({ allow: [{ network: ['x'] }] }, { networks: { x: ['300.1.1.1'] } })).toThrow(/networks\.x\[0\]/);
  });

  it('explains with the address seen', () => {
    const r = criterion(rule, networks).explain(at('198.51.100.1'), 'fail');
    expect(r.code).toBe('network-unauthorized');
    expect(r.message).toContain('198.51.100.1');
    expect(criterion(rule, networks).explain(at('junk'), 'unknown').code).toBe('client-ip-unknown');
  });
});
