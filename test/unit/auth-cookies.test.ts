// Portcullis's cookies: what it reads back, what it sets, and what the upstream never sees.
import { describe, expect, it } from 'vitest';
import { cookieNames, cookiesWithPrefix, readCookies, serializeCookie, upstreamCookieFilter, withoutPortcullisCookies } from '../../src/auth/cookies.ts';

describe('Portcullis cookies', () => {
  it('reads every value of a name in header order, and nothing of similar names', () => {
    const header = 'portcullis=a; portcullis-login-x=b; xportcullis=c;portcullis=d; portcullis';
    expect(readCookies(header, 'portcullis')).toEqual(['a', 'd']);
    expect(readCookies(undefined, 'portcullis')).toEqual([]);
  });

  it('finds the pending login-state cookies by prefix', () => {
    expect(cookiesWithPrefix('a=1; portcullis-login-abc=x; portcullis-login-def=y; portcullis=z', 'portcullis-login-')).toEqual([
      { name: 'portcullis-login-abc', value: 'x' },
      { name: 'portcullis-login-def', value: 'y' },
    ]);
  });

  it('uses __Host- over https without a shared domain, __Secure- with one, no prefix over plain http', () => {
    expect(cookieNames('portcullis', undefined, true)).toEqual({ session: '__Host-portcullis', login: '__Host-portcullis-login' });
    expect(cookieNames('portcullis', 'example.com', true).session).toBe('__Secure-portcullis');
    expect(cookieNames('portcullis', undefined, false)).toEqual({ session: 'portcullis', login: 'portcullis-login' });
  });

  it('never puts a Domain on a __Host- cookie, and is always HttpOnly with a SameSite', () => {
    const line = serializeCookie('__Host-portcullis', 'v', { secure: true, sameSite: 'Lax', domain: 'example.com', maxAgeSeconds: 60 });
    expect(line).toBe('__Host-portcullis=v; Path=/; HttpOnly; SameSite=Lax; Secure; Max-Age=60');
    expect(serializeCookie('__Secure-portcullis', 'v', { secure: true, sameSite: 'Lax', domain: 'example.com' })).toContain('; Domain=example.com');
  });

  it('strips the session, login-state and hand-off binding cookies before the request goes upstream', () => {
    const names = cookieNames('portcullis', undefined, false);
    expect(withoutPortcullisCookies('theme=dark; portcullis=t; portcullis-login-abc=s; portcullis-login-bind=b; portcullis-other=keep', names)).toBe('theme=dark; portcullis-other=keep');
    expect(withoutPortcullisCookies('theme=dark', names)).toBe('theme=dark');
  });

  it('drops a Cookie header holding only Portcullis cookies, and keeps one holding only another', () => {
    const names = cookieNames('portcullis', undefined, false);
    expect(withoutPortcullisCookies(' portcullis=t ', names)).toBeUndefined();
    expect(withoutPortcullisCookies('portcullis-login-x=s', names)).toBeUndefined();
    expect(withoutPortcullisCookies('portcullis=t; portcullis-login-x=s', names)).toBeUndefined();
    expect(withoutPortcullisCookies('portcullis-other=keep', names)).toBe('portcullis-other=keep');
  });

  it('the kept answer is only ever the one for the same header: headers taking turns each get their own', () => {
    const filter = upstreamCookieFilter(cookieNames('portcullis', undefined, false));
    const headers = ['portcullis=t', 'theme=dark; portcullis=t', 'theme=dark', 'portcullis=t', 'portcullis=t', 'lang=de; portcullis=u', 'theme=dark; portcullis=t', 'theme=lite; portcullis=t'];
    const names = cookieNames('portcullis', undefined, false);
    for (const value of headers) expect(filter(value)).toBe(withoutPortcullisCookies(value, names));
    expect(headers.map(filter)).toEqual([undefined, 'theme=dark', 'theme=dark', undefined, undefined, 'lang=de', 'theme=dark', 'theme=lite']);
  });
});
