// The session cookie: a fresh random ticket at every sign-in, out of reach of scripts,
// and anything that is not exactly a live ticket counts as no session (never a 500).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLoginEnv, alice, type LoginEnv } from '../helpers/login-env.ts';
import { cookieValue, loginUpToCallback, send, sessionCookieLine } from '../helpers/auth-flow.ts';
import { CookieJar } from '../helpers/idp.ts';

let env: LoginEnv;
beforeAll(async () => {
  env = await startLoginEnv();
});
afterAll(async () => {
  await env?.stop();
});

/** Sign in step by step; the Set-Cookie lines for public_url (callback) and the route host (hand-off). */
async function signInCollectingCookies(idpJar = new CookieJar()) {
  const browser = env.browser();
  const login = await loginUpToCallback(browser, env.appUrl('/'), alice, idpJar);
  const callback = await browser.fetch(login.callback);
  await callback.body.dump();
  expect(callback.statusCode).toBe(302);
  const handoff = await browser.fetch(new URL(callback.headers.location as string));
  await handoff.body.dump();
  expect(handoff.statusCode).toBe(302);
  return { atPublicUrl: sessionCookieLine(callback.headers)!, atRouteHost: sessionCookieLine(handoff.headers)!, browser };
}

async function appWithCookie(value: string) {
  return send(env.appUrl('/'), { headers: { accept: 'text/html', cookie: `portcullis=${value}` } });
}

describe('the session cookie', () => {
  it('is HttpOnly, SameSite=Lax, host-only, and lacks Secure only because the test config allows plain http', async () => {
    const { atPublicUrl, atRouteHost } = await signInCollectingCookies();
    for (const line of [atPublicUrl, atRouteHost]) {
      expect(line).toBeDefined();
      const attributes = line.split(';').slice(1).map((a) => a.trim().toLowerCase());
      expect(attributes).toContain('httponly');
      expect(attributes).toContain('samesite=lax');
      expect(attributes).toContain('path=/');
      expect(attributes).not.toContain('secure');
      expect(attributes.some((a) => a.startsWith('domain='))).toBe(false);
      expect(attributes).toContain(`max-age=${12 * 3600}`);
    }
    // the same ticket on both hosts
    expect(cookieValue(atRouteHost)).toBe(cookieValue(atPublicUrl));
  });

  it('carries a new ticket at every sign-in, even within one provider session', async () => {
    const idpJar = new CookieJar();
    const first = await signInCollectingCookies(idpJar);
    const second = await signInCollectingCookies(idpJar);
    expect(cookieValue(second.atPublicUrl)).not.toBe(cookieValue(first.atPublicUrl));
    // and both sessions work on their own
    for (const value of [cookieValue(first.atRouteHost), cookieValue(second.atRouteHost)]) {
      expect((await appWithCookie(value)).status).toBe(200);
    }
  });

  it('ignores a cookie planted before sign-in: the login creates its own ticket', async () => {
    const browser = env.browser();
    const planted = 'A'.repeat(22) + '.' + 'B'.repeat(43);
    browser.jar.store(new URL(env.publicUrl), `portcullis=${planted}; Path=/`);
    const login = await loginUpToCallback(browser, env.appUrl('/'), alice);
    const callback = await browser.fetch(login.callback);
    await callback.body.dump();
    const line = sessionCookieLine(callback.headers);
    expect(line).toBeDefined();
    expect(cookieValue(line!)).not.toBe(planted);
  });

  it('treats tampered, truncated, oversized or malformed values as no session: sign in again, never a 500', async () => {
    const { atRouteHost } = await signInCollectingCookies();
    const good = cookieValue(atRouteHost);
    expect((await appWithCookie(good)).status).toBe(200);
    const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
    const variants = [
      flip(good, 3), // another session id
      flip(good, good.length - 5), // the right id, a wrong secret
      good.slice(0, -1),
      good.slice(0, 22),
      good + 'A',
      good + good,
      good.replace('.', '..'),
      'x'.repeat(6000),
      '',
      '%00%0d%0a',
      '"' + good + '"',
      'A'.repeat(22) + '.' + 'B'.repeat(43),
    ];
    for (const value of variants) {
      const res = await appWithCookie(value);
      expect(res.status, `cookie value ${value.slice(0, 40)}`).toBe(302);
      expect(res.headers.location).toContain('/.portcullis/start?rd=');
    }
    // API clients get 401 for the same, not 500
    const api = await send(env.appUrl('/'), { headers: { accept: 'application/json', cookie: `portcullis=${flip(good, 3)}` } });
    expect(api.status).toBe(401);
    // the genuine cookie still works after all that
    expect((await appWithCookie(good)).status).toBe(200);
  });

  it('a bad cookie next to the good one does not lock the user out', async () => {
    const { atRouteHost } = await signInCollectingCookies();
    const good = cookieValue(atRouteHost);
    const res = await send(env.appUrl('/'), { headers: { accept: 'text/html', cookie: `portcullis=garbage; portcullis=${good}` } });
    expect(res.status).toBe(200);
  });

  it('unfinished sign-in attempts do not pile up login cookies until the browser is locked out', async () => {
    const browser = env.browser();
    const longPage = env.appUrl('/report?q=' + 'x'.repeat(3000));
    // Eight tabs (or a hostile page opening windows) start signing in and never finish.
    for (let i = 0; i < 8; i++) {
      const atIdp = await browser.open(`${env.publicUrl}/.portcullis/start?rd=${encodeURIComponent(longPage)}`);
      expect(atIdp.status).toBe(0); // stopped at the provider
    }
    const pending = browser.jar.cookies.filter((c) => c.name.startsWith('portcullis-login-') && c.name !== 'portcullis-login-bind');
    expect(pending.length).toBeLessThanOrEqual(4);
    // The next sign-in still works (no 431 for an oversized Cookie header).
    const page = await browser.signIn(env.appUrl('/'), alice);
    expect(page.status).toBe(200);
    expect(page.url.toString()).toBe(env.appUrl('/'));
  });

  it('is never passed on to the upstream', async () => {
    const { atRouteHost } = await signInCollectingCookies();
    const res = await send(env.appUrl('/'), { headers: { accept: 'text/html', cookie: `theme=dark; portcullis=${cookieValue(atRouteHost)}; portcullis-login-abc=x` } });
    expect(res.status).toBe(200);
    const echoed = JSON.parse(res.body) as { headers: { cookie?: string } };
    expect(echoed.headers.cookie).toBe('theme=dark');
  });
});
