import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalJWKSet, jwtVerify, type JWK } from 'jose';
import { startLoginEnv, alice, defaultRoutes, type LoginEnv } from '../helpers/login-env.ts';
import { loopbackAgent } from '../helpers/browser.ts';
import { request } from 'undici';

let env: LoginEnv;
beforeAll(async () => {
  env = await startLoginEnv({
    routes: `${defaultRoutes}
  - name: apps
    from: http://*.apps.test
    policy: { allow: [ { authenticated: true } ] }
    to: \${UPSTREAM}`,
  });
});
afterAll(async () => {
  await env?.stop();
});

describe('signing in through Portcullis', () => {
  it('sends a browser through the identity provider and back to the page it asked for, signed in', async () => {
    const browser = env.browser();
    const page = await browser.signIn(env.appUrl('/hello?x=1'), alice);
    expect(page.status).toBe(200);
    expect(page.url.toString()).toBe(env.appUrl('/hello?x=1'));
    const echoed = JSON.parse(page.body) as { url: string; headers: Record<string, string> };
    expect(echoed.url).toBe('/hello?x=1');
    expect(echoed.headers['x-forwarded-user']).toBe('alice');
    expect(echoed.headers['x-forwarded-email']).toBe('alice@example.com');
    expect(echoed.headers['x-forwarded-groups']).toBe('engineering,admins');
    expect(echoed.headers['x-remote-user']).toBe('alice@example.com');
    // the upstream never sees Portcullis's session cookie
    expect(echoed.headers.cookie ?? '').not.toContain('portcullis');

  });

  it('gives API clients 401 with the sign-in URL instead of a redirect', async () => {
    const res = await request(env.appUrl('/api'), { dispatcher: loopbackAgent, headers: { accept: 'application/json' } });
    expect(res.statusCode).toBe(401);
    const body = (await res.body.json()) as { error: string; login_url: string };
    expect(body.error).toBe('login_required');
    expect(body.login_url).toContain(`${env.publicUrl}/.portcullis/start?rd=`);
  });

  it('the assertion verifies against the JWKS with the route origin as audience', async () => {
    const browser = env.browser();
    const page = await browser.signIn(env.appUrl('/'), alice);
    const assertion = (JSON.parse(page.body) as { headers: Record<string, string> }).headers['x-portcullis-jwt-assertion']!;
    const keys = await request(env.appUrl('/.well-known/portcullis/jwks.json'), { dispatcher: loopbackAgent }).then((r) => r.body.json() as Promise<{ keys: JWK[] }>);
    const { payload } = await jwtVerify(assertion, createLocalJWKSet({ keys: keys.keys }), { issuer: env.publicUrl, audience: `http://app.test` });
    expect(payload.sub).toBe('alice');
    expect(payload.email).toBe('alice@example.com');
    expect(payload.groups).toEqual(['engineering', 'admins']);
    expect(payload.exp! - payload.iat!).toBeLessThanOrEqual(300);
  });

  it("on a wildcard route, the assertion's audience is the origin the browser asked for", async () => {
    const keys = await request(env.appUrl('/.well-known/portcullis/jwks.json'), { dispatcher: loopbackAgent }).then((r) => r.body.json() as Promise<{ keys: JWK[] }>);
    for (const host of ['wiki.apps.test', 'crm.apps.test']) {
      const page = await env.browser().signIn(`http://${host}:${env.port}/`, alice);
      expect(page.status).toBe(200);
      const assertion = (JSON.parse(page.body) as { headers: Record<string, string> }).headers['x-portcullis-jwt-assertion']!;
      const { payload } = await jwtVerify(assertion, createLocalJWKSet({ keys: keys.keys }), { issuer: env.publicUrl });
      expect(payload.aud).toBe(`http://${host}`);
    }
  });
});
