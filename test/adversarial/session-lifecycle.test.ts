// Class 10: the session cookie is a bearer ticket, so everything that is not exactly a
// live ticket must count as no session: altered tickets, other Portcullis or provider
// values in its place, floods of cookies. (Fixation, replayed callbacks and hand-offs,
// logout and WebSocket revocation have their own integration tests; these add to them.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { raw, startTarget, type Target } from './harness.ts';
import { loginUpToCallback } from '../helpers/auth-flow.ts';
import { alice, bob } from '../helpers/login-env.ts';

let t: Target;
let ticket: string;
beforeAll(async () => {
  t = await startTarget();
  ticket = t.cookie.slice('portcullis='.length);
});
afterAll(async () => {
  await t?.stop();
});

async function withCookie(cookie: string) {
  return raw(t, `GET /s HTTP/1.1\r\nHost: app.test\r\nCookie: ${cookie}\r\nAccept: application/json\r\nConnection: close\r\n\r\n`);
}

function flip(c: string): string {
  return c === 'A' ? 'B' : 'A';
}

describe('only an exact, live ticket is a session', () => {
  it('the control: the ticket works', async () => {
    expect((await withCookie(t.cookie)).status).toBe(200);
  });

  it('a ticket with one character changed anywhere (start, middle, end) is no session', async () => {
    for (const i of [0, 1, Math.floor(ticket.length / 2), ticket.length - 2, ticket.length - 1]) {
      const altered = ticket.slice(0, i) + flip(ticket[i]!) + ticket.slice(i + 1);
      const r = await withCookie(`portcullis=${altered}`);
      expect(r.status, `position ${i}`).toBe(401);
      expect(r.upstream).toHaveLength(0);
    }
  });

  it('a ticket with something appended, prepended, or cut short is no session', async () => {
    for (const value of [ticket + 'A', 'A' + ticket, ticket + '.', ticket.slice(0, -1), ticket.slice(1), ticket + '%00', ticket.toUpperCase(), ticket.toLowerCase()]) {
      if (value === ticket) continue;
      const r = await withCookie(`portcullis=${value}`);
      expect(r.status).toBe(401);
      expect(r.upstream).toHaveLength(0);
    }
  });

  it('Portcullis\'s other values (a login-state cookie, the identity assertion) and the provider\'s cookies are no session', async () => {
    const browser = t.env.browser();
    const pending = await loginUpToCallback(browser, t.env.appUrl('/x'), alice);
    const assertionReply = await withCookie(t.cookie);
    const assertion = String(assertionReply.upstream[0]!.headers['x-portcullis-jwt-assertion']);
    for (const value of [pending.loginCookie.value, assertion, encodeURIComponent(pending.callback.searchParams.get('code') ?? 'x')]) {
      const r = await withCookie(`portcullis=${value}`);
      expect(r.status).toBe(401);
      expect(r.upstream).toHaveLength(0);
    }
  });

  it('a flood of session cookies is bounded: no session, no error, and the proxy keeps serving', async () => {
    const flood = Array.from({ length: 200 }, (_, i) => `portcullis=${ticket.slice(0, -3)}${String(i).padStart(3, '0')}`).join('; ');
    const r = await withCookie(flood);
    expect(r.status).toBe(401);
    expect(r.upstream).toHaveLength(0);
    expect((await withCookie(t.cookie)).status).toBe(200);
  });

  it('the ticket under a look-alike name (case, spaces, prefixes) is no session', async () => {
    for (const cookie of [`PORTCULLIS=${ticket}`, `portcullis_=${ticket}`, `xportcullis=${ticket}`, `__Host-portcullis=${ticket}`, `x=portcullis=${ticket}`]) {
      const r = await withCookie(cookie);
      expect(r.status, cookie).toBe(401);
      expect(r.upstream).toHaveLength(0);
    }
  });

  it('the ticket is never passed on, whichever of several cookies carries it', async () => {
    const r = await withCookie(`a=1; portcullis=nope; ${t.cookie}; portcullis=${ticket}; b=2`);
    expect(r.status).toBe(200);
    expect(JSON.stringify(r.upstream[0]!.rawHeaders)).not.toContain(ticket);
    expect(r.upstream[0]!.headers.cookie).toBe('a=1; b=2');
  });
});

describe('one keep-alive connection, several cookies', () => {
  it('each request is the session its own Cookie header names, whatever the connection sent before', async () => {
    const browser = t.env.browser();
    expect((await browser.signIn(t.env.appUrl('/'), bob)).status).toBe(200);
    const bobCookie = `portcullis=${browser.jar.get('portcullis')!}`;
    const request = (cookie: string | undefined, path: string) =>
      `GET ${path} HTTP/1.1\r\nHost: app.test\r\n${cookie === undefined ? '' : `Cookie: ${cookie}\r\n`}Accept: application/json\r\n\r\n`;
    // Pipelined on one connection: alice, bob, no cookie, alice with one character changed, alice again, bob again.
    const altered = t.cookie.slice(0, -1) + flip(t.cookie.slice(-1));
    const sent = [t.cookie, bobCookie, undefined, altered, t.cookie, bobCookie];
    const r = await raw(t, sent.map((cookie, i) => request(cookie, `/k${i}`)).join('') + 'GET /end HTTP/1.1\r\nHost: public.test\r\nConnection: close\r\n\r\n', 400);
    expect(r.raw.match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 200', 'HTTP/1.1 401', 'HTTP/1.1 401', 'HTTP/1.1 200', 'HTTP/1.1 200', 'HTTP/1.1 200']);
    const seen = r.upstream.filter((u) => u.url.startsWith('/k')).map((u) => `${u.url} ${u.headers['x-forwarded-user'] ?? '-'}`);
    expect(seen).toEqual(['/k0 alice', '/k1 bob', '/k4 alice', '/k5 bob']);
  });
});

describe('a callback replayed into another browser (login CSRF)', () => {
  it('an attacker\'s valid code and state, opened in the victim\'s browser, sign nobody in', async () => {
    const attacker = t.env.browser();
    const pending = await loginUpToCallback(attacker, t.env.appUrl('/'), alice);
    const victim = t.env.browser();
    const res = await victim.fetch(pending.callback);
    await res.body.dump();
    expect(res.statusCode).toBe(400);
    expect(victim.jar.get('portcullis')).toBeUndefined();
    // the attacker's own browser can still finish (the code was not spent by the refusal)
    const own = await attacker.fetch(pending.callback);
    await own.body.dump();
    expect(own.statusCode).toBe(302);
  });
});
