// Open redirects: every parameter that decides where a browser is sent afterwards
// (rd of /.portcullis/start, the hand-off token) must only ever lead to a host
// Portcullis serves, however the address is spelled.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { raw, startTarget, type Target } from './harness.ts';

let t: Target;
let served: Set<string>;
beforeAll(async () => {
  t = await startTarget();
  served = new Set(['app.test', 'corp.test', 'public.test', '127.0.0.1']);
});
afterAll(async () => {
  await t?.stop();
});

const SPELLINGS = [
  'https://evil.test/',
  '//evil.test/',
  '///evil.test/',
  '/\\evil.test/',
  '\\\\evil.test/',
  '/%5Cevil.test/',
  '/%2F%2Fevil.test/',
  'https:evil.test',
  'https:/evil.test',
  'http:/\\/evil.test',
  'http://app.test@evil.test/',
  'http://app.test:80@evil.test/',
  'http://evil.test\\@app.test/',
  'http://evil.test%40app.test/',
  'http://evil.test#@app.test/',
  'http://evil.test?@app.test/',
  'http://evil.test%23@app.test/',
  'http://app.test.evil.test/',
  'http://evil.test/app.test',
  'http://evil.test%2Fapp.test/',
  'http://evil\u3002test/',
  'http://evil.test%E3%80%82app.test/',
  '\thttp://evil.test/',
  ' http://evil.test/',
  'http://evil.test\r\nSet-Cookie: x=1',
  'javascript:alert(document.domain)',
  'data:text/html,<script>alert(1)</script>',
  'JaVaScRiPt://app.test/%0aalert(1)',
  'http://[::ffff:7f00:1]/',
  'http://0x7f.1/',
  'http://2130706433/',
];

function expectServedLocation(location: string | undefined, base: string): void {
  if (!location) return; // no redirect at all is safe
  const url = new URL(location, base);
  expect(['http:', 'https:']).toContain(url.protocol);
  expect(served.has(url.hostname), `redirected to ${url.href}`).toBe(true);
  expect(url.username).toBe('');
}

describe('rd of /.portcullis/start', () => {
  it.each(SPELLINGS)('rd=%j never sends a signed-in browser off-site', async (rd) => {
    const q = `rd=${encodeURIComponent(rd)}`;
    // on public_url with a session: Portcullis redirects at once to rd (or to a hand-off)
    const signedIn = await raw(t, `GET /.portcullis/start?${q} HTTP/1.1\r\nHost: 127.0.0.1:${t.port}\r\nCookie: ${t.cookie}\r\nConnection: close\r\n\r\n`);
    expect([302, 303, 307]).toContain(signedIn.status);
    expectServedLocation(signedIn.headers.location, t.env.publicUrl);
    expect(signedIn.raw).not.toMatch(/\r\nSet-Cookie: x=1/i);
    // follow a hand-off link to its end: still a served host
    const loc = new URL(signedIn.headers.location!, t.env.publicUrl);
    if (loc.pathname === '/.portcullis/handoff') {
      const handed = await raw(t, `GET ${loc.pathname}${loc.search} HTTP/1.1\r\nHost: ${loc.host}\r\nConnection: close\r\n\r\n`);
      expectServedLocation(handed.headers.location, loc.origin);
    }
    // on a route host without a session: sent to public_url, with rd made safe
    const anonymous = await raw(t, `GET /.portcullis/start?${q} HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n`);
    expectServedLocation(anonymous.headers.location, t.env.appUrl());
    const next = new URL(anonymous.headers.location!, t.env.appUrl());
    const rdAfter = next.searchParams.get('rd');
    if (rdAfter) expectServedLocation(rdAfter, t.env.publicUrl);
  });
});

describe('the hand-off token', () => {
  it.each(['https://evil.test/', '//evil.test', 'eyJhbGciOiJub25lIn0.eyJ1cmwiOiJodHRwczovL2V2aWwudGVzdC8ifQ.', ''])('token=%j leads nowhere off-site and signs nobody in', async (token) => {
    const r = await raw(t, `GET /.portcullis/handoff?token=${encodeURIComponent(token)}&rd=${encodeURIComponent('https://evil.test/')} HTTP/1.1\r\nHost: app.test\r\nAccept: text/html\r\nConnection: close\r\n\r\n`);
    expectServedLocation(r.headers.location, t.env.appUrl());
    expect(r.raw).not.toMatch(/set-cookie: portcullis=[^;]/i);
  });
});
