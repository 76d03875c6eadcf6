import { describe, expect, it } from 'vitest';
import ipaddr from 'ipaddr.js';
import { canonicalIp, clientAddress, compileIpMatcher } from '../../src/request/client-ip.ts';

const trusted = compileIpMatcher([ipaddr.parseCIDR('10.0.0.0/8'), ipaddr.parseCIDR('fd00::/8')]);

describe('who the client is', () => {
  it('an untrusted peer is the client, whatever X-Forwarded-For claims', () => {
    expect(clientAddress('203.0.113.7', '198.51.100.1', trusted)).toBe('203.0.113.7');
  });

  it('behind a trusted proxy, the client is the rightmost untrusted hop', () => {
    expect(clientAddress('10.0.0.1', '198.51.100.1, 203.0.113.9, 10.0.0.2', trusted)).toBe('203.0.113.9');
  });

  it('a trusted proxy without X-Forwarded-For is itself the client', () => {
    expect(clientAddress('10.0.0.1', undefined, trusted)).toBe('10.0.0.1');
  });

  it('when every hop is trusted, the leftmost one originated the request', () => {
    expect(clientAddress('10.0.0.1', '10.1.1.1, 10.2.2.2', trusted)).toBe('10.1.1.1');
  });

  it('garbage in the chain is reported as is, never as the trusted proxy\'s own address', () => {
    expect(clientAddress('10.0.0.1', '198.51.100.1, not-an-ip', trusted)).toBe('not-an-ip');
  });

  it('IPv4-mapped IPv6 peers count as their IPv4 address, for trust and for the result', () => {
    expect(canonicalIp('::ffff:10.0.0.1')).toBe('10.0.0.1');
    expect(clientAddress('::ffff:10.0.0.1', '203.0.113.9', trusted)).toBe('203.0.113.9');
    expect(clientAddress('::ffff:203.0.113.7', '198.51.100.1', trusted)).toBe('203.0.113.7');
  });

  it('IPv6 ranges are honoured', () => {
    expect(clientAddress('fd00::1', '2001:db8::5', trusted)).toBe('2001:db8::5');
    expect(clientAddress('2001:db8::1', '2001:db8::5', trusted)).toBe('2001:db8::1');
  });

  it('no trusted proxies means nobody is trusted', () => {
    const none = compileIpMatcher([]);
    expect(none('127.0.0.1')).toBe(false);
    expect(clientAddress('127.0.0.1', '198.51.100.1', none)).toBe('127.0.0.1');
  });
});
