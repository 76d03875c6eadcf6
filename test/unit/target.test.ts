import { describe, expect, it } from 'vitest';
import { normalizePath, normalizeHost, parseTarget } from '../../src/request/target.ts';

describe('path normalization: the route and the upstream see the same path', () => {
  it.each([
    ['/a/b', '/a/b'],
    ['/a//b', '/a/b'],
    ['//admin', '/admin'],
    ['/a/./b', '/a/b'],
    ['/a/../b', '/b'],
    ['/a/b/', '/a/b/'],
    ['/a/.', '/a/'],
    ['/a/..', '/'],
    ['/%61dmin', '/admin'],
    ['/caf%c3%a9', '/caf%C3%A9'],
    ['/a;b=c', '/a;b=c'],
    ['/x%20y', '/x%20y'],
  ])('%s -> %s', (raw, expected) => {
    expect(normalizePath(raw)).toBe(expected);
  });

  it.each([
    ['/../a', 'leaves the root'],
    ['/a/../../b', 'leaves the root'],
    ['/a/%2e%2e/b', 'encoded dot'],
    ['/a/%2E/b', 'encoded dot'],
    ['/a%2fb', 'encoded slash'],
    ['/a%5Cb', 'encoded slash or backslash'],
    ['/a\\b', 'backslash'],
    ['/a%252fb', 'double-encoded'],
    ['/a%252e%252e/b', 'double-encoded'],
    ['/a%00b', 'NUL'],
    ['/a%zz', 'invalid percent-encoding'],
    ['/a%', 'invalid percent-encoding'],
    ['/%c0%ae%c0%ae/etc', 'invalid percent-encoding or UTF-8'],
    ['/a%0d%0ab', 'control character'],
  ])('refuses %s (%s)', (raw, reason) => {
    const r = normalizePath(raw);
    expect(typeof r).toBe('object');
    expect((r as { reason: string }).reason).toContain(reason);
  });
});

describe('host normalization', () => {
  it.each([
    ['Example.COM', 'example.com'],
    ['example.com.', 'example.com'],
    ['example.com:8443', 'example.com'],
    ['[::1]:8080', '[::1]'],
    ['[0:0:0:0:0:0:0:1]', '[::1]'],
    ['127.0.0.1:80', '127.0.0.1'],
  ])('%s -> %s', (raw, expected) => expect(normalizeHost(raw)).toBe(expected));

  it.each(['', 'a b', 'exa_mple.com', 'evil.com@good.com', 'x:port', '[zz]', '-a.com', 'a..com'])('refuses %j', (raw) => {
    expect(normalizeHost(raw)).toBeUndefined();
  });
});

describe('request targets', () => {
  it('uses the authority of an absolute-form target', () => {
    expect(parseTarget('http://App.example.com/x?y=1', undefined)).toEqual({ ok: true, host: 'app.example.com', path: '/x', query: '?y=1' });
  });
  it('refuses an absolute-form target whose Host header names another host', () => {
    expect(parseTarget('http://evil.example.com/x', 'app.example.com')).toMatchObject({ ok: false, code: 'bad_host' });
  });
  it('accepts an absolute-form target whose Host header agrees', () => {
    expect(parseTarget('http://app.example.com./x', 'APP.example.com:80')).toMatchObject({ ok: true, host: 'app.example.com' });
  });
  it('refuses a missing Host header', () => {
    expect(parseTarget('/x', undefined)).toMatchObject({ ok: false, code: 'bad_host' });
  });
  it('refuses asterisk-form and other targets', () => {
    expect(parseTarget('*', 'a.com')).toMatchObject({ ok: false, code: 'bad_request' });
    expect(parseTarget('a.com:443', 'a.com')).toMatchObject({ ok: false, code: 'bad_request' });
  });
  it('keeps the query untouched and refuses fragments', () => {
    expect(parseTarget('/x?a=%2f..%00', 'a.com')).toMatchObject({ ok: true, path: '/x', query: '?a=%2f..%00' });
    expect(parseTarget('/x#frag', 'a.com')).toMatchObject({ ok: false, code: 'bad_request' });
    expect(parseTarget('/x?a#frag', 'a.com')).toMatchObject({ ok: false, code: 'bad_request' });
  });
});
