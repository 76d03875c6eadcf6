// A route host that cannot share public_url's cookie gets its own through a one-time,
// host-bound hand-off; with a shared cookie domain no hand-off is needed at all.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLoginEnv, alice, type LoginEnv } from '../helpers/login-env.ts';
import { loginUpToCallback, send, sessionCookieLine, startCustomEnv, type CustomEnv } from '../helpers/auth-flow.ts';

describe('per-host hand-off (no shared cookie domain)', () => {
  let env: LoginEnv;
  beforeAll(async () => {
    env = await startLoginEnv({
      routes: `
  - name: app
    from: http://app.test
    policy: { allow: [ { authenticated: true } ] }
    to: \${UPSTREAM}
  - name: other
    from: http://other.test
    policy: { allow: [ { authenticated: true } ] }
    to: \${UPSTREAM}`,
    });
  });
  afterAll(async () => {
    await env?.stop();
  });

  const other = (path = '/') => `http://other.test:${env.port}${path}`;

  async function handoffUrl() {
    const browser = env.browser();
    const login = await loginUpToCallback(browser, env.appUrl('/inbox?x=1'), alice);
    const callback = await browser.fetch(login.callback);
    await callback.body.dump();
    expect(callback.statusCode).toBe(302);
    // public_url gets its cookie right away, host-only
    expect(sessionCookieLine(callback.headers)).not.toMatch(/Domain=/i);
    return { browser, url: new URL(callback.headers.location as string) };
  }

  it('the route host gets its cookie through /.portcullis/handoff and lands on the page asked for', async () => {
    const { browser, url } = await handoffUrl();
    expect(url.origin).toBe(`http://app.test:${env.port}`);
    expect(url.pathname).toBe('/.portcullis/handoff');
    const res = await browser.fetch(url);
    await res.body.dump();
    expect(res.statusCode).toBe(302);
    expect(res.headers.location).toBe(env.appUrl('/inbox?x=1'));
    const line = sessionCookieLine(res.headers);
    expect(line).toBeDefined();
    expect(line).not.toMatch(/Domain=/i);
    expect((await browser.open(env.appUrl('/inbox?x=1'))).status).toBe(200);
  });

  it('a hand-off token works once only', async () => {
    const { browser, url } = await handoffUrl();
    const binding = browser.jar.cookies.find((c) => c.name === 'portcullis-login-bind' && c.host === 'app.test')!.value;
    const first = await browser.fetch(url);
    await first.body.dump();
    expect(first.statusCode).toBe(302);
    // Replayed even with the browser's own binding cookie: already used.
    const again = await send(url.toString(), { headers: { accept: 'text/html', cookie: `portcullis-login-bind=${binding}` } });
    expect(again.status).toBe(400);
    expect(again.headers['content-type']).toContain('text/html');
    expect(again.body).toContain('already used');
    expect(sessionCookieLine(again.headers)).toBeUndefined();
  });

  it('a hand-off token is bound to its host: another route host refuses it (and it still works where it belongs)', async () => {
    const { browser, url } = await handoffUrl();
    const elsewhere = new URL(url.pathname + url.search, other());
    const res = await send(elsewhere.toString(), { headers: { accept: 'text/html' } });
    expect(res.status).toBe(400);
    expect(sessionCookieLine(res.headers)).toBeUndefined();
    const genuine = await browser.fetch(url);
    await genuine.body.dump();
    expect(genuine.statusCode).toBe(302);
  });

  it('a hand-off link opened in another browser signs nobody in as its owner (no login CSRF)', async () => {
    const { browser, url } = await handoffUrl();
    const victim = env.browser();
    const res = await victim.fetch(url);
    await res.body.dump();
    // Not alice's session: the victim is sent to sign in as themselves.
    expect(sessionCookieLine(res.headers)).toBeUndefined();
    expect(res.statusCode).toBe(302);
    expect(res.headers.location).toContain(`${env.publicUrl}/.portcullis/start?rd=`);
    const landed = await victim.open(new URL(res.headers.location as string));
    expect(landed.url.origin).toBe(env.idp.issuer); // at the provider's login, signed in as no one
    expect((await send(env.appUrl('/'), { headers: { accept: 'application/json', cookie: victim.jar.header(new URL(env.appUrl('/'))) ?? '' } })).status).toBe(401);
    // The browser that signed in still completes its own hand-off.
    const own = await browser.fetch(url);
    await own.body.dump();
    expect(own.statusCode).toBe(302);
    expect(sessionCookieLine(own.headers)).toBeDefined();
  });

  it('an altered or made-up hand-off token is refused', async () => {
    const { url } = await handoffUrl();
    const token = url.searchParams.get('token')!;
    for (const bad of [token.slice(0, -2) + (token.endsWith('AA') ? 'BB' : 'AA'), 'abc', '']) {
      const res = await send(env.appUrl(`/.portcullis/handoff?token=${encodeURIComponent(bad)}`), { headers: { accept: 'text/html' } });
      expect(res.status).toBe(400);
      expect(sessionCookieLine(res.headers)).toBeUndefined();
    }
  });

  it('a second route host is signed in through public_url without asking the provider again', async () => {
    const browser = env.browser();
    await browser.signIn(env.appUrl('/'), alice);
    const page = await browser.open(other('/welcome'));
    expect(page.status).toBe(200);
    expect(page.url.toString()).toBe(other('/welcome'));
    expect(page.trail.some((u) => u.origin === env.idp.issuer)).toBe(false);
    expect(page.trail.some((u) => u.pathname === '/.portcullis/handoff')).toBe(true);
  });
});

describe('a cookie domain shared by public_url and the route host', () => {
  let env: CustomEnv;
  beforeAll(async () => {
    env = await startCustomEnv({
      publicHost: 'login.example.test',
      cookie: '  domain: example.test',
      routes: `
  - name: app
    from: http://app.example.test
    policy: { allow: [ { authenticated: true } ] }
    to: \${UPSTREAM}
  - name: outside
    from: http://outside.test
    policy: { allow: [ { authenticated: true } ] }
    to: \${UPSTREAM}`,
    });
  });
  afterAll(async () => {
    await env?.stop();
  });

  it('needs no hand-off: the callback sets one cookie with Domain for both hosts', async () => {
    const browser = env.browser();
    const login = await loginUpToCallback(browser, env.url('app.example.test', '/x'), alice);
    expect(login.callback.origin).toBe(env.publicUrl);
    const callback = await browser.fetch(login.callback);
    await callback.body.dump();
    expect(callback.statusCode).toBe(302);
    expect(callback.headers.location).toBe(env.url('app.example.test', '/x'));
    expect(sessionCookieLine(callback.headers)).toMatch(/; Domain=example\.test(;|$)/);
    const page = await browser.open(env.url('app.example.test', '/x'));
    expect(page.status).toBe(200);
    expect(page.trail.some((u) => u.pathname === '/.portcullis/handoff')).toBe(false);
  });

  it('a route host outside that domain still gets a host-only cookie by hand-off', async () => {
    const browser = env.browser();
    const page = await browser.signIn(env.url('outside.test', '/y'), alice);
    expect(page.status).toBe(200);
    expect(page.url.toString()).toBe(env.url('outside.test', '/y'));
    expect(page.trail.some((u) => u.hostname === 'outside.test' && u.pathname === '/.portcullis/handoff')).toBe(true);
    const onOutside = browser.jar.cookies.find((c) => c.name === 'portcullis' && c.host === 'outside.test');
    expect(onOutside?.hostOnly).toBe(true);
  });
});
