// Portcullis's own pages: who am I, and the keys that verify the identity assertion.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLoginEnv, alice, type LoginEnv } from '../helpers/login-env.ts';
import { send } from '../helpers/auth-flow.ts';
import type { Browser } from '../helpers/browser.ts';

let env: LoginEnv;
let browser: Browser;
beforeAll(async () => {
  env = await startLoginEnv();
  browser = env.browser();
  await browser.signIn(env.appUrl('/'), alice);
});
afterAll(async () => {
  await env?.stop();
});

describe('/.portcullis/userinfo', () => {
  it('tells an API client who it is signed in as, in JSON, without any token', async () => {
    const res = await browser.fetch(env.appUrl('/.portcullis/userinfo'), { headers: { accept: 'application/json' } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('application/json');
    const text = await res.body.text();
    expect(JSON.parse(text)).toMatchObject({ sub: 'alice', email: 'alice@example.com', email_verified: true, name: 'Alice Anders', groups: ['engineering', 'admins'] });
    expect(text).not.toMatch(/token|eyJ/i);
  });

  it('shows a person a page with who they are and a way to sign out', async () => {
    const res = await browser.fetch(env.appUrl('/.portcullis/userinfo'));
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/html');
    const page = await res.body.text();
    expect(page).toContain('alice@example.com');
    expect(page).toContain('/.portcullis/logout');
    expect(page).not.toMatch(/eyJ/);
  });

  it('works on public_url too, which is signed in as well', async () => {
    const res = await browser.fetch(`${env.publicUrl}/.portcullis/userinfo`, { headers: { accept: 'application/json' } });
    expect(res.statusCode).toBe(200);
    expect(((await res.body.json()) as { sub: string }).sub).toBe('alice');
  });

  it('without a session: a browser is sent to sign in, an API client gets 401', async () => {
    const page = await send(env.appUrl('/.portcullis/userinfo'), { headers: { accept: 'text/html' } });
    expect(page.status).toBe(302);
    // back to this very page after sign-in, port included
    expect(new URL(page.headers.location as string).searchParams.get('rd')).toBe(env.appUrl('/.portcullis/userinfo'));
    const api = await send(env.appUrl('/.portcullis/userinfo'), { headers: { accept: 'application/json' } });
    expect(api.status).toBe(401);
  });
});

describe('the JWKS for the identity assertion', () => {
  it('is served with the same public keys on every route host and on public_url', async () => {
    const urls = [env.appUrl('/.well-known/portcullis/jwks.json'), `http://public.test:${env.port}/.well-known/portcullis/jwks.json`, `${env.publicUrl}/.well-known/portcullis/jwks.json`];
    const bodies: string[] = [];
    for (const url of urls) {
      const res = await send(url);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toContain('application/json');
      bodies.push(res.body);
    }
    expect(new Set(bodies).size).toBe(1);
    const { keys } = JSON.parse(bodies[0]!) as { keys: Record<string, unknown>[] };
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      expect(key.kid).toBeTruthy();
      // public halves only
      for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) expect(key).not.toHaveProperty(secret);
    }
  });

  it('is never forwarded to the upstream, even on a public route', async () => {
    const before = env.upstream.received.length;
    await send(`http://public.test:${env.port}/.well-known/portcullis/jwks.json`);
    expect(env.upstream.received.length).toBe(before);
  });
});
