// Signing out: a confirmed POST ends the server session everywhere and at the provider;
// the provider's back-channel call ends every session of that provider session.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT, decodeJwt, generateKeyPair, importJWK, type CryptoKey, type JWTPayload } from 'jose';
import { alice, bob } from '../helpers/login-env.ts';
import { CookieJar, followProvider } from '../helpers/idp.ts';
import { send, startCustomEnv, type CustomEnv } from '../helpers/auth-flow.ts';
import type { Browser } from '../helpers/browser.ts';

let env: CustomEnv;
const appUrl = (path = '/') => env.url('app.test', path);
beforeAll(async () => {
  // The provider puts the session id (sid) in ID and logout tokens, so logout can be precise.
  env = await startCustomEnv({});
});
afterAll(async () => {
  await env?.stop();
});

/** Sign in and return the browser and the provider session id (from the identity assertion). */
async function signedIn(user = alice, idpJar = new CookieJar()): Promise<{ browser: Browser; sid: string; idpJar: CookieJar }> {
  const browser = env.browser();
  const page = await browser.signIn(appUrl('/'), user, idpJar);
  expect(page.status).toBe(200);
  const assertion = (JSON.parse(page.body) as { headers: Record<string, string> }).headers['x-portcullis-jwt-assertion']!;
  return { browser, sid: decodeJwt(assertion).sid as string, idpJar };
}

/** 200 when the browser's session still works on the app, 302 (to sign in) when it does not. */
async function appStatus(browser: Browser): Promise<number> {
  const res = await browser.fetch(appUrl('/'));
  await res.body.dump();
  return res.statusCode;
}

async function csrfOf(browser: Browser): Promise<string> {
  const page = await browser.open(appUrl('/.portcullis/logout'));
  expect(page.status).toBe(200);
  const token = /name="csrf" value="([^"]+)"/.exec(page.body)?.[1];
  expect(token).toBeTruthy();
  return token!;
}

async function postLogout(browser: Browser, body: string) {
  const res = await browser.fetch(appUrl('/.portcullis/logout'), { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  await res.body.dump();
  return res;
}

async function eventually(check: () => Promise<boolean>, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('signing out', () => {
  it('GET shows a confirmation page with a form, and ends nothing', async () => {
    const { browser } = await signedIn();
    const page = await browser.open(appUrl('/.portcullis/logout'));
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.body).toMatch(/<form method="post" action="\/\.portcullis\/logout">/);
    expect(page.body).toMatch(/name="csrf"/);
    expect(page.body).toContain('alice@example.com');
    expect(await appStatus(browser)).toBe(200);
  });

  it('a POST without the form token, or with another session\'s, is refused and the session survives', async () => {
    const { browser } = await signedIn(alice);
    const other = await signedIn(bob);
    const othersToken = await csrfOf(other.browser);
    for (const body of ['', 'csrf=', `csrf=${encodeURIComponent(othersToken)}`, 'csrf=forged']) {
      const res = await postLogout(browser, body);
      expect(res.statusCode, `body ${body}`).toBe(403);
    }
    expect(await appStatus(browser)).toBe(200);
    expect(await appStatus(other.browser)).toBe(200);
  });

  it('a confirmed POST ends the server session, clears the cookie and goes to the provider\'s end_session_endpoint', async () => {
    const { browser, idpJar } = await signedIn();
    const ticket = browser.jar.cookies.find((c) => c.name === 'portcullis' && c.host === 'app.test')!.value;
    const res = await postLogout(browser, `csrf=${encodeURIComponent(await csrfOf(browser))}`);
    expect(res.statusCode).toBe(302);
    const cleared = ([] as string[]).concat(res.headers['set-cookie'] ?? []).find((l) => l.startsWith('portcullis='));
    expect(cleared).toMatch(/^portcullis=;.*Max-Age=0/);
    const location = new URL(res.headers.location as string);
    expect(location.origin).toBe(env.idp().issuer);
    expect(location.pathname).toBe('/session/end');
    expect(location.searchParams.get('post_logout_redirect_uri')).toBe(`${env.publicUrl}/.portcullis/signed-out`);
    expect(decodeJwt(location.searchParams.get('id_token_hint')!).sub).toBe('alice');

    // The old cookie value, replayed, no longer opens anything: the server session is gone.
    const replayed = await send(appUrl('/'), { headers: { accept: 'text/html', cookie: `portcullis=${ticket}` } });
    expect(replayed.status).toBe(302);
    expect(replayed.headers.location).toContain('/.portcullis/start');
    const onPublicUrl = await send(`${env.publicUrl}/.portcullis/userinfo`, { headers: { accept: 'application/json', cookie: `portcullis=${ticket}` } });
    expect(onPublicUrl.status).toBe(401);

    // The provider signs the person out too and sends them to Portcullis's signed-out page.
    const back = await followProvider(location, idpJar);
    expect(back.toString()).toBe(`${env.publicUrl}/.portcullis/signed-out`);
    const signedOut = await browser.open(back);
    expect(signedOut.status).toBe(200);
    expect(signedOut.body).toContain('You are signed out');
    // and the provider session is over: the next sign-in asks for the password again
    const again = await env.browser().open(appUrl('/'));
    await expect(followProvider(again.url, idpJar)).rejects.toThrow(/asked for a login/);
  });
});

describe('back-channel logout', () => {
  it('signing out of one session ends the other session of the same provider session, and no one else\'s', async () => {
    const idpJar = new CookieJar();
    const first = await signedIn(alice, idpJar);
    // Portcullis's cookies dropped, the provider's kept: single sign-on, same provider session.
    const second = await signedIn(alice, idpJar);
    expect(second.sid).toBe(first.sid);
    expect(second.browser.jar.get('portcullis')).not.toBe(first.browser.jar.get('portcullis'));
    // Alice in another browser (another provider session), and Bob: both must survive.
    const elsewhere = await signedIn(alice);
    expect(elsewhere.sid).not.toBe(first.sid);
    const bobs = await signedIn(bob);

    const res = await postLogout(first.browser, `csrf=${encodeURIComponent(await csrfOf(first.browser))}`);
    expect(res.statusCode).toBe(302);
    await followProvider(new URL(res.headers.location as string), idpJar);

    expect(await eventually(async () => (await appStatus(second.browser)) === 302)).toBe(true);
    expect(await appStatus(elsewhere.browser)).toBe(200);
    expect(await appStatus(bobs.browser)).toBe(200);
  });
});

describe('logout tokens Portcullis refuses', () => {
  const EVENT = 'http://schemas.openid.net/event/backchannel-logout';

  function providerKey() {
    const jwk = env.idp().signingKeys.find((k) => k.alg === 'ES256')!;
    return { kid: jwk.kid!, key: importJWK(jwk, 'ES256') };
  }

  async function logoutToken(claims: JWTPayload, key?: CryptoKey): Promise<string> {
    const p = providerKey();
    const now = Math.floor(Date.now() / 1000);
    // What the provider would send, with `claims` changed (an undefined value removes a claim).
    return new SignJWT({ iss: env.idp().issuer, aud: 'portcullis', iat: now, exp: now + 120, events: { [EVENT]: {} }, jti: randomUUID(), ...claims })
      .setProtectedHeader({ alg: 'ES256', kid: p.kid, typ: 'logout+jwt' })
      .sign(key ?? ((await p.key) as CryptoKey));
  }

  function deliver(token: string) {
    return send(`${env.publicUrl}/.portcullis/backchannel-logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ logout_token: token }).toString() });
  }

  it('a token signed by another key, with a nonce, without events, or for another audience ends nothing (400)', async () => {
    const victim = await signedIn();
    const stranger = await generateKeyPair('ES256');
    const withoutEvents = await logoutToken({ sid: victim.sid, events: undefined });
    expect(decodeJwt(withoutEvents).events).toBeUndefined();
    const forged = [
      await logoutToken({ sid: victim.sid }, stranger.privateKey),
      await logoutToken({ sid: victim.sid, nonce: 'n-0S6_WzA2Mj' }),
      withoutEvents,
      await logoutToken({ sid: victim.sid, aud: 'another-client' }),
      await logoutToken({ sid: victim.sid, events: { 'http://example.com/other-event': {} } }),
      await logoutToken({ sid: victim.sid, iss: 'http://127.0.0.1:1' }),
      await logoutToken({ sid: victim.sid, jti: undefined }),
    ];
    for (const [i, token] of forged.entries()) {
      const res = await deliver(token);
      expect(res.status, `forged token #${i}`).toBe(400);
      expect(JSON.parse(res.body)).toMatchObject({ error: 'invalid_request' });
    }
    expect(await appStatus(victim.browser)).toBe(200);
  });

  it('a genuine token ends the session once; the same token again (same jti) is refused', async () => {
    const victim = await signedIn();
    const token = await logoutToken({ sid: victim.sid, sub: 'alice' });
    const first = await deliver(token);
    expect(first.status).toBe(200);
    expect(JSON.parse(first.body)).toEqual({ sessions_ended: 1 });
    expect(await appStatus(victim.browser)).toBe(302);
    const replay = await deliver(token);
    expect(replay.status).toBe(400);
    expect(replay.body).toContain('replayed');
  });

  it('only POST with a logout_token is accepted', async () => {
    expect((await send(`${env.publicUrl}/.portcullis/backchannel-logout`)).status).toBe(400);
    expect((await send(`${env.publicUrl}/.portcullis/backchannel-logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'x=1' })).status).toBe(400);
    expect((await deliver('not.a.jwt')).status).toBe(400);
  });
});
