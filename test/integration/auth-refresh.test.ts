// Tokens expire; sessions carry on with fresh ones from the provider, end when the provider
// says no, and survive a provider outage only for the configured grace period.
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startLoginEnv, alice, type LoginEnv } from '../helpers/login-env.ts';
import type { Browser } from '../helpers/browser.ts';

const ACCESS_TOKEN_TTL_S = 2;
let env: LoginEnv | undefined;
afterEach(async () => {
  await env?.stop();
  env = undefined;
});

async function start(): Promise<LoginEnv> {
  env = await startLoginEnv({
    idp: { accessTokenTtl: ACCESS_TOKEN_TTL_S },
    idpExtra: '  refresh_grace: 2s',
    routes: `
  - name: app
    from: http://app.test
    policy: { allow: [ { authenticated: true } ] }
    to: \${UPSTREAM}
    pass_access_token: true`,
  });
  return env;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

function logEvents(e: LoginEnv, event: string): { error?: string }[] {
  return readFileSync(e.proxy.logFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { event?: string; error?: string })
    .filter((entry) => entry.event === event);
}

/** When Portcullis last got tokens (sign-in or refresh), from its own log: no guessing under load. */
function lastTokenIssuedAt(e: LoginEnv): number {
  let at = 0;
  for (const line of readFileSync(e.proxy.logFile, 'utf8').split('\n')) {
    if (!line) continue;
    const entry = JSON.parse(line) as { event?: string; time: string };
    if (entry.event === 'signed_in' || entry.event === 'refreshed') at = Math.max(at, Date.parse(entry.time));
  }
  if (!at) throw new Error('no sign-in or refresh in the log');
  return at;
}

/** The Bearer token the upstream saw for this request, or the status when it was not forwarded. */
async function bearerSeen(e: LoginEnv, browser: Browser): Promise<{ status: number; token?: string; location?: string }> {
  const res = await browser.fetch(e.appUrl('/'));
  if (res.statusCode !== 200) {
    await res.body.dump();
    return { status: res.statusCode, location: res.headers.location as string | undefined };
  }
  const echoed = (await res.body.json()) as { headers: Record<string, string> };
  return { status: 200, token: echoed.headers.authorization?.replace(/^Bearer /, '') };
}

describe('token refresh', () => {
  it('after the access token expires, the upstream gets a new, working one', async () => {
    const e = await start();
    const browser = e.browser();
    const page = await browser.signIn(e.appUrl('/'), alice);
    const first = (JSON.parse(page.body) as { headers: Record<string, string> }).headers.authorization!.replace(/^Bearer /, '');
    expect(first).toBeTruthy();
    await sleep(ACCESS_TOKEN_TTL_S * 1000 + 400);
    const later = await bearerSeen(e, browser);
    expect(later.status).toBe(200);
    expect(later.token).toBeTruthy();
    expect(later.token).not.toBe(first);
    // The provider accepts the new token (it is live, not merely different).
    const me = await request(`${e.idp.issuer}/me`, { headers: { authorization: `Bearer ${later.token}` } });
    expect(me.statusCode).toBe(200);
    expect(((await me.body.json()) as { sub: string }).sub).toBe('alice');
  });

  it('when the provider refuses the refresh (user disabled), the browser is sent to sign in again', async () => {
    const e = await start();
    const browser = e.browser();
    await browser.signIn(e.appUrl('/'), alice);
    e.idp.disableUser('alice');
    await sleep(ACCESS_TOKEN_TTL_S * 1000 + 400);
    const after = await bearerSeen(e, browser);
    expect(after.status).toBe(302);
    expect(after.location).toContain('/.portcullis/start?rd=');
    // The session is over for good, even once the account is back.
    e.idp.enableUser('alice');
    expect((await bearerSeen(e, browser)).status).toBe(302);
  });

  it('with the provider down, an expired session works during refresh_grace and gets 503 after it', async () => {
    const e = await start();
    const browser = e.browser();
    expect((await browser.signIn(e.appUrl('/'), alice)).status).toBe(200);
    // Let the refresh that a short-lived token triggers at once settle, then take the provider away.
    await sleep(300);
    await e.idp.close();
    await sleep(100);
    // The current token expires ACCESS_TOKEN_TTL_S after it was issued: at sign-in or at the last refresh.
    const expiresAt = lastTokenIssuedAt(e) + ACCESS_TOKEN_TTL_S * 1000;
    const graceEndsAt = expiresAt + 2000;

    // Past the token's expiry, well inside the 2 s grace.
    await sleep(expiresAt + 300 - Date.now());
    const inGrace = await bearerSeen(e, browser);
    expect(inGrace.status).toBe(200);
    expect(inGrace.token).toBeTruthy(); // the last token it had

    // Past expiry + grace.
    await sleep(graceEndsAt + 200 - Date.now());
    const res = await browser.fetch(e.appUrl('/'));
    expect(res.statusCode).toBe(503);
    expect(res.headers['content-type']).toContain('text/html');
    expect(await res.body.text()).toMatch(/identity provider/i);
    const api = await browser.fetch(e.appUrl('/'), { headers: { accept: 'application/json' } });
    expect(api.statusCode).toBe(503);
    expect(((await api.body.json()) as { error: string }).error).toBe('idp_unavailable');
    // Three requests needed a refresh, but the dead provider was tried once: the others did not
    // wait for it again (with a provider that hangs, each would have waited for the timeout).
    const tries = logEvents(e, 'refresh_failed');
    expect(tries.filter((t) => /ECONNREFUSED|fetch failed/.test(t.error ?? ''))).toHaveLength(1);
    expect(tries.filter((t) => /not retried yet/.test(t.error ?? '')).length).toBeGreaterThanOrEqual(2);
  });
});
