// Where a user may be sent after signing in: only back to a host Portcullis serves.
import { describe, expect, it } from 'vitest';
import { safeReturnUrl } from '../../src/auth/return-to.ts';
import { buildRouteTable, servesHost } from '../../src/request/route-match.ts';

const table = buildRouteTable([
  { host: 'app.test', pathPrefix: '/' },
  { host: 'wiki.test', pathPrefix: '/docs' },
  { host: '*.apps.test', pathPrefix: '/' },
]);
const publicHost = 'login.test';
const isServed = (host: string) => host === publicHost || servesHost(table, host);
const check = (candidate: string | null | undefined) => safeReturnUrl(candidate, isServed);

describe('after sign-in, a user is sent back only to a host Portcullis serves', () => {
  it.each([
    ['https://app.test/', 'https://app.test/'],
    ['https://app.test/a/b?c=1&d=%2F', 'https://app.test/a/b?c=1&d=%2F'],
    ['http://app.test:8080/x', 'http://app.test:8080/x'],
    ['https://wiki.test/elsewhere', 'https://wiki.test/elsewhere'],
    ['https://login.test/.portcullis/userinfo', 'https://login.test/.portcullis/userinfo'],
    ['https://team.apps.test/board', 'https://team.apps.test/board'],
    ['https://deep.team.apps.test/', 'https://deep.team.apps.test/'],
    ['HTTPS://APP.TEST/Path', 'https://app.test/Path'],
    ['https://app.test', 'https://app.test/'],
  ])('accepts %s', (candidate, expected) => {
    expect(check(candidate)).toBe(expected);
  });

  it('drops the fragment, which the browser keeps to itself anyway', () => {
    expect(check('https://app.test/page#section')).toBe('https://app.test/page');
  });

  it.each([
    ['protocol-relative', '//evil.com'],
    ['protocol-relative to a served host', '//app.test/'],
    ['backslash as a slash', '/\\evil.com'],
    ['backslashes as slashes', '\\\\evil.com'],
    ['scheme without slashes', 'https:evil.com'],
    ['scheme with one slash', 'https:/evil.com'],
    ['scheme with three slashes', 'https:///evil.com'],
    ['a host Portcullis does not serve', 'https://evil.com'],
    ['a served host as userinfo', 'https://app.test@evil.com'],
    ['a served host as userinfo with a password', 'https://app.test:x@evil.com/'],
    ['a backslash before a served host as userinfo', 'https://evil.com\\@app.test'],
    ['a served host as a prefix of another host', 'https://app.test.evil.com'],
    ['a served host after a fragment', 'https://evil.com#@app.test'],
    ['a served host after a query', 'https://evil.com?@app.test'],
    ['a percent-encoded protocol-relative URL', '%2F%2Fevil.com'],
    ['a percent-encoded @ in the host', 'https://app.test%40evil.com/'],
    ['a percent-encoded dot in the host', 'https://app%2Etest/'],
    ['javascript:', 'javascript:alert(1)'],
    ['javascript: disguised with a served host', 'javascript://app.test/%0aalert(1)'],
    ['data:', 'data:text/html,<script>alert(1)</script>'],
    ['file:', 'file:///etc/passwd'],
    ['ftp:', 'ftp://app.test/'],
    ['a tab inside the scheme', 'ht\ttps://evil.com'],
    ['a newline inside the host', 'https://app.test\n.evil.com/'],
    ['a tab between the slashes', 'https:/\t/evil.com'],
    ['a carriage return', 'https://app.test/\r\nSet-Cookie: x=1'],
    ['a NUL byte', 'https://app.test\u0000.evil.com/'],
    ['leading whitespace', ' https://app.test/'],
    ['an impossible port', 'https://app.test:99999/'],
    ['a non-numeric port', 'https://app.test:abc/'],
    ['a homoglyph host (Cyrillic a)', 'https://\u0430pp.test/'],
    ['a homoglyph host (Cyrillic e)', 'https://app.t\u0435st/'],
    ['a full-width host the URL parser would fold to a served one', 'https://\uff41pp.test/'],
    ['an IDN host in punycode', 'https://xn--pp-7kc.test/'],
    ['a wildcard suffix itself (not a name below it)', 'https://apps.test/'],
    ['a relative path', '/dashboard'],
    ['an empty string', ''],
    ['null', null],
    ['undefined', undefined],
    ['an absurdly long URL', 'https://app.test/' + 'a'.repeat(5000)],
  ])('refuses %s', (_what, candidate) => {
    expect(check(candidate)).toBeUndefined();
  });

  it('never returns a URL whose host the browser would read as unserved', () => {
    // Whatever it accepts, a WHATWG URL parser (the browser's) must agree on the host.
    const tricky = ['https://app.test/..//evil.com', 'https://app.test/%2F%2Fevil.com', 'https://app.test/;@evil.com', 'https://team.apps.test//evil.com'];
    for (const candidate of tricky) {
      const out = check(candidate);
      if (out !== undefined) expect(isServed(new URL(out).hostname)).toBe(true);
    }
  });
});
