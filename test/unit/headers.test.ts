import { describe, expect, it } from 'vitest';
import { canonicalHeaderName, filterRequestHeaders, filterResponseHeaders } from '../../src/request/headers.ts';

const names = (flat: string[]) => flat.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
const strip = (rawHeaders: string[], extra: string[] = []) => filterRequestHeaders({ rawHeaders, extraStripped: new Set(extra) });

describe('headers the client sends', () => {
  it('"X_Forwarded_User", "x-forwarded-user" and "X-FORWARDED-USER" are one header', () => {
    expect(canonicalHeaderName('X_Forwarded_User')).toBe('x-forwarded-user');
    expect(canonicalHeaderName('X-FORWARDED-USER')).toBe('x-forwarded-user');
  });

  it('every Cookie header, however it is spelled, goes through the cookie rewrite; one left empty is dropped', () => {
    const seen: string[] = [];
    const cookie = (value: string) => (seen.push(value), value === 'drop' ? undefined : value.toUpperCase());
    const out = filterRequestHeaders({ rawHeaders: ['Cookie', 'a=1', 'Accept', '*/*', 'cookie', 'drop', 'COOKIE', 'b=2', 'X-Cookie', 'c=3'], extraStripped: new Set(), cookie });
    expect(out).toEqual(['Cookie', 'A=1', 'Accept', '*/*', 'COOKIE', 'B=2', 'X-Cookie', 'c=3']);
    expect(seen).toEqual(['a=1', 'drop', 'b=2']);
  });

  it('hop-by-hop headers never reach the upstream', () => {
    const out = strip(['Connection', 'keep-alive', 'Keep-Alive', 'timeout=5', 'TE', 'trailers', 'Trailer', 'X-Sum', 'Upgrade', 'h2c', 'Proxy-Authorization', 'Basic eA==', 'Proxy-Connection', 'keep-alive', 'Transfer-Encoding', 'chunked', 'Accept', '*/*']);
    expect(out).toEqual(['Accept', '*/*']);
  });

  it('headers named in Connection never reach the upstream, in any case or spelling', () => {
    const out = strip(['Connection', 'X-Secret, x_other', 'X-Secret', '1', 'X-OTHER', '2', 'X-Kept', '3']);
    expect(out).toEqual(['X-Kept', '3']);
  });

  it('every client-sent copy of an identity or forwarding header is dropped, however it is spelled', () => {
    const out = strip([
      'X-Forwarded-User', 'a', 'x-forwarded-user', 'b', 'X_Forwarded_User', 'c', 'X-FORWARDED-EMAIL', 'd', 'X-Forwarded-Groups', 'e',
      'X-Portcullis-Jwt-Assertion', 'f', 'x_portcullis_anything', 'g', 'X-Forwarded-For', 'h', 'Forwarded', 'i', 'X-Real-IP', 'j',
      'X-Original-URL', 'k', 'X-Request-Id', 'l', 'Host', 'm', 'Content-Length', '5', 'Expect', '100-continue', 'Cookie', 'n=1',
    ]);
    expect(out).toEqual(['Cookie', 'n=1']);
  });

  it('headers Portcullis injects on some route are stripped on every route', () => {
    expect(strip(['X-User-Id', '1', 'x_user_id', '2', 'Accept', 'a'], ['x-user-id'])).toEqual(['Accept', 'a']);
  });

  it('keeps the order and original spelling of what passes', () => {
    expect(strip(['Accept', 'a', 'X-App', '1', 'accept', 'b'])).toEqual(['Accept', 'a', 'X-App', '1', 'accept', 'b']);
  });
});

describe('headers the upstream answers with', () => {
  it('hop-by-hop headers and those named in Connection do not reach the client', () => {
    const out = filterResponseHeaders({
      connection: 'X-Internal, close',
      'keep-alive': 'timeout=5',
      'transfer-encoding': 'chunked',
      trailer: 'x-sum',
      upgrade: 'h2c',
      'proxy-authenticate': 'Basic',
      'x-internal': 'secret',
      'content-type': 'text/plain',
      'set-cookie': ['a=1', 'b=2'],
    }, 'rid-1');
    expect(out).toEqual(['content-type', 'text/plain', 'set-cookie', ['a=1', 'b=2'], 'x-request-id', 'rid-1']);
  });

  it('a Connection header listing several names removes each of them', () => {
    expect(filterResponseHeaders({ connection: 'a,  b', a: '1', b: '2', c: '3' }, 'rid-1')).toEqual(['c', '3', 'x-request-id', 'rid-1']);
  });

  it("the upstream's own X-Request-Id gives way to Portcullis's", () => {
    expect(filterResponseHeaders({ 'x-request-id': 'from-upstream', 'content-type': 'text/plain' }, 'rid-1')).toEqual(['content-type', 'text/plain', 'x-request-id', 'rid-1']);
  });
});

describe('method override headers', () => {
  it('are never forwarded, so an upstream cannot act on a method the policy did not check', () => {
    const out = filterRequestHeaders({ rawHeaders: ['X-HTTP-Method-Override', 'DELETE', 'x_http_method', 'PUT', 'X-Method-Override', 'PATCH', 'Accept', '*/*'], extraStripped: new Set() });
    expect(out).toEqual(['Accept', '*/*']);
  });
});
