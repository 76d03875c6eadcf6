// The sign-in callback accepts exactly one answer: the provider's, to this browser's own
// login attempt, once. Everything else gets a clear 400 page and never a session.
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sealer } from '../../src/auth/sealed.ts';
import { startLoginEnv, alice, bob, type LoginEnv } from '../helpers/login-env.ts';
import { loginUpToCallback, sealerOf, send, sessionCookieLine, type PendingLogin } from '../helpers/auth-flow.ts';

let env: LoginEnv;
let sealer: Sealer;
beforeAll(async () => {
  env = await startLoginEnv();
  sealer = sealerOf(env.proxy);
});
afterAll(async () => {
  await env?.stop();
});

interface LoginState {
  state: string;
  nonce: string;
  verifier: string;
  returnTo: string;
}

const html = { accept: 'text/html' };

function cookieHeader(login: PendingLogin, value = login.loginCookie.value): string {
  return `${login.loginCookie.name}=${value}`;
}

/** The same login state, re-sealed with some fields changed (as if Portcullis had sealed it so). */
function resealed(login: PendingLogin, change: Partial<LoginState>, now = Date.now()): string {
  const original = sealer.unseal<LoginState>('login', login.loginCookie.value);
  if (!original) throw new Error('could not open the login-state cookie');
  return sealer.seal('login', { ...original, ...change }, 600_000, now);
}

/** Why Portcullis refused, from its log: the line with this response's request id. */
function refusalReason(requestId: string): { code: string; reason: string } {
  const lines = readFileSync(env.proxy.logFile, 'utf8').split('\n').filter(Boolean);
  for (const line of lines) {
    const entry = JSON.parse(line) as { event?: string; request_id?: string; code: string; reason: string };
    if (entry.event === 'callback_refused' && entry.request_id === requestId) return entry;
  }
  throw new Error(`no callback_refused log line for request ${requestId}`);
}

async function expectRefusedWithPage(res: Awaited<ReturnType<typeof send>>): Promise<{ code: string; reason: string }> {
  expect(res.status).toBe(400);
  expect(res.headers['content-type']).toContain('text/html');
  expect(res.body).toMatch(/<html/i);
  expect(res.body).toMatch(/Start again/);
  // a way out: the page links to a fresh sign-in
  expect(res.body).toContain('/.portcullis/start?rd=');
  expect(sessionCookieLine(res.headers)).toBeUndefined();
  return refusalReason(res.headers['x-request-id'] as string);
}

/** The untouched callback still signs in: the refusal was about the tampering, not the setup. */
async function expectGenuineCallbackWorks(login: PendingLogin): Promise<void> {
  const res = await send(login.callback.toString(), { headers: { ...html, cookie: cookieHeader(login) } });
  expect(res.status).toBe(302);
  expect(sessionCookieLine(res.headers)).toBeDefined();
}

describe('the sign-in callback refuses what did not come from this browser\'s own login', () => {
  it('refuses a callback without the login-state cookie', async () => {
    const login = await loginUpToCallback(env.browser(), env.appUrl('/'), alice);
    const res = await send(login.callback.toString(), { headers: html });
    expect((await expectRefusedWithPage(res)).code).toBe('login_state_invalid');
    await expectGenuineCallbackWorks(login);
  });

  it('refuses a forged or altered login-state cookie', async () => {
    const login = await loginUpToCallback(env.browser(), env.appUrl('/'), alice);
    const v = login.loginCookie.value;
    const altered = v.slice(0, 20) + (v[20] === 'A' ? 'B' : 'A') + v.slice(21);
    for (const value of [altered, randomBytes(120).toString('base64url'), v.slice(0, -4), 'x']) {
      const res = await send(login.callback.toString(), { headers: { ...html, cookie: cookieHeader(login, value) } });
      expect((await expectRefusedWithPage(res)).code).toBe('login_state_invalid');
    }
    await expectGenuineCallbackWorks(login);
  });

  it('refuses a state parameter that does not match the login state', async () => {
    const login = await loginUpToCallback(env.browser(), env.appUrl('/'), alice);
    const state = login.callback.searchParams.get('state')!;
    const tampered = new URL(login.callback);
    // Same cookie name (it keys on the state's first characters), different state.
    tampered.searchParams.set('state', state.slice(0, 12) + 'x'.repeat(state.length - 12));
    const res = await send(tampered.toString(), { headers: { ...html, cookie: cookieHeader(login) } });
    const { code, reason } = await expectRefusedWithPage(res);
    expect(code).toBe('login_state_invalid');
    expect(reason).toBe('state mismatch');
    await expectGenuineCallbackWorks(login);
  });

  it('refuses a login state whose ten minutes are up', async () => {
    const login = await loginUpToCallback(env.browser(), env.appUrl('/'), alice);
    const expired = resealed(login, {}, Date.now() - 600_001);
    const res = await send(login.callback.toString(), { headers: { ...html, cookie: cookieHeader(login, expired) } });
    expect((await expectRefusedWithPage(res)).code).toBe('login_state_invalid');
    await expectGenuineCallbackWorks(login);
  });

  it('refuses a replayed callback after a successful sign-in, and creates no second session', async () => {
    const login = await loginUpToCallback(env.browser(), env.appUrl('/'), alice);
    await expectGenuineCallbackWorks(login);
    // Replayed with the very same login-state cookie, as by someone who captured both.
    const replay = await send(login.callback.toString(), { headers: { ...html, cookie: cookieHeader(login) } });
    await expectRefusedWithPage(replay);
    // And as the browser itself would replay it (its login-state cookie was cleared).
    const again = await send(login.callback.toString(), { headers: html });
    await expectRefusedWithPage(again);
  });

  it('refuses a code from another login', async () => {
    const a = await loginUpToCallback(env.browser(), env.appUrl('/'), alice);
    const b = await loginUpToCallback(env.browser(), env.appUrl('/'), bob);
    const swapped = new URL(b.callback);
    swapped.searchParams.set('code', a.callback.searchParams.get('code')!);
    const res = await send(swapped.toString(), { headers: { ...html, cookie: cookieHeader(b) } });
    const { code, reason } = await expectRefusedWithPage(res);
    expect(code).toBe('login_verification_failed');
    // B's PKCE verifier does not fit A's code: the provider itself refuses the exchange.
    expect(reason).toMatch(/invalid_grant/);
  });

  it('refuses a wrong or missing iss parameter (RFC 9207)', async () => {
    const login = await loginUpToCallback(env.browser(), env.appUrl('/'), alice);
    expect(login.callback.searchParams.get('iss')).toBe(env.idp.issuer);
    const wrong = new URL(login.callback);
    wrong.searchParams.set('iss', 'http://127.0.0.1:1');
    const missing = new URL(login.callback);
    missing.searchParams.delete('iss');
    for (const url of [wrong, missing]) {
      const res = await send(url.toString(), { headers: { ...html, cookie: cookieHeader(login) } });
      const { code, reason } = await expectRefusedWithPage(res);
      expect(code).toBe('login_verification_failed');
      expect(reason).toMatch(/iss/);
    }
    await expectGenuineCallbackWorks(login);
  });

  it('refuses an ID token whose nonce is not this login\'s', async () => {
    const a = await loginUpToCallback(env.browser(), env.appUrl('/'), alice);
    const b = await loginUpToCallback(env.browser(), env.appUrl('/'), bob);
    const bNonce = sealer.unseal<LoginState>('login', b.loginCookie.value)!.nonce;
    // A's state and PKCE verifier (so the provider hands out A's tokens), B's nonce.
    const res = await send(a.callback.toString(), { headers: { ...html, cookie: cookieHeader(a, resealed(a, { nonce: bNonce })) } });
    const { code, reason } = await expectRefusedWithPage(res);
    expect(code).toBe('login_verification_failed');
    expect(reason).toMatch(/nonce/);
  });

  it('refuses a code exchanged with the wrong PKCE verifier (the provider says no)', async () => {
    const login = await loginUpToCallback(env.browser(), env.appUrl('/'), alice);
    const res = await send(login.callback.toString(), { headers: { ...html, cookie: cookieHeader(login, resealed(login, { verifier: randomBytes(32).toString('base64url') })) } });
    const { code, reason } = await expectRefusedWithPage(res);
    expect(code).toBe('login_verification_failed');
    // Only the verifier differs from a genuine exchange, so this invalid_grant is the PKCE check.
    expect(reason).toMatch(/invalid_grant/);
  });

  it('an error answer shows the provider\'s words only for this browser\'s own sign-in', async () => {
    const login = await loginUpToCallback(env.browser(), env.appUrl('/'), alice);
    const state = login.callback.searchParams.get('state')!;
    const words = 'Your account is locked. Call 555-0100 to unlock it';
    const crafted = `${env.publicUrl}/.portcullis/callback?error=access_denied&error_description=${encodeURIComponent(words)}&state=${state}`;
    const forged = await send(crafted, { headers: html });
    expect(forged.status).toBe(400);
    expect(forged.body).not.toContain('555-0100');
    expect(forged.body).toContain('access_denied');
    expect(sessionCookieLine(forged.headers)).toBeUndefined();
    const own = await send(crafted, { headers: { ...html, cookie: cookieHeader(login) } });
    expect(own.status).toBe(400);
    expect(own.body).toContain('555-0100');
    expect(sessionCookieLine(own.headers)).toBeUndefined();
    const odd = await send(`${env.publicUrl}/.portcullis/callback?error=${encodeURIComponent('<b>Call 555-0100</b>')}`, { headers: html });
    expect(odd.status).toBe(400);
    expect(odd.body).not.toContain('555-0100');
  });

  it('answers an API client with JSON, not a page', async () => {
    const login = await loginUpToCallback(env.browser(), env.appUrl('/'), alice);
    const res = await send(login.callback.toString(), { headers: { accept: 'application/json' } });
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toContain('application/json');
    expect(JSON.parse(res.body)).toMatchObject({ error: 'login_state_invalid', status: 400 });
    expect(sessionCookieLine(res.headers)).toBeUndefined();
  });
});
