// Clients that cannot follow a sign-in redirect get 401 with the URL to send a person to;
// CORS preflights pass without a session only where a route says so.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLoginEnv, type LoginEnv } from '../helpers/login-env.ts';
import { send } from '../helpers/auth-flow.ts';

let env: LoginEnv;
beforeAll(async () => {
  env = await startLoginEnv({
    routes: `
  - name: app
    from: http://app.test
    policy: { allow: [ { authenticated: true } ] }
    to: \${UPSTREAM}
  - name: api
    from: http://api.test
    policy: { allow: [ { authenticated: true } ] }
    to: \${UPSTREAM}
    allow_cors_preflight: true`,
  });
});
afterAll(async () => {
  await env?.stop();
});

async function expectLoginRequired(res: Awaited<ReturnType<typeof send>>, requested: string): Promise<void> {
  expect(res.status).toBe(401);
  expect(res.headers['content-type']).toContain('application/json');
  expect(res.headers.location).toBeUndefined();
  const body = JSON.parse(res.body) as { error: string; login_url: string; request_id: string };
  expect(body.error).toBe('login_required');
  expect(body.request_id).toBe(res.headers['x-request-id']);
  const login = new URL(body.login_url);
  expect(login.origin + login.pathname).toBe(`${env.publicUrl}/.portcullis/start`);
  expect(login.searchParams.get('rd')).toBe(requested);
}

describe('an API client without a session', () => {
  it('asking for JSON gets 401 with login_url', async () => {
    const url = env.appUrl('/api/items?page=2');
    await expectLoginRequired(await send(url, { headers: { accept: 'application/json' } }), url);
  });

  it('sending X-Requested-With gets 401 even when it also accepts HTML', async () => {
    const url = env.appUrl('/api/items');
    await expectLoginRequired(await send(url, { headers: { accept: 'text/html,*/*', 'x-requested-with': 'XMLHttpRequest' } }), url);
  });

  it('sending a POST gets 401, since a redirect would lose the body', async () => {
    const url = env.appUrl('/api/items');
    await expectLoginRequired(await send(url, { method: 'POST', headers: { accept: 'text/html', 'content-type': 'application/json' }, body: '{"a":1}' }), url);
  });

  it('sending no Accept header at all gets 401', async () => {
    const url = env.appUrl('/');
    await expectLoginRequired(await send(url), url);
  });

  it('nothing of it reaches the upstream', async () => {
    const before = env.upstream.received.length;
    await send(env.appUrl('/secret'), { method: 'DELETE', headers: { accept: 'application/json' } });
    expect(env.upstream.received.length).toBe(before);
  });

  it('a browser navigating is redirected to sign in instead', async () => {
    const res = await send(env.appUrl('/page'), { headers: { accept: 'text/html' } });
    expect(res.status).toBe(302);
    const location = new URL(res.headers.location as string);
    expect(location.origin + location.pathname).toBe(`${env.publicUrl}/.portcullis/start`);
    expect(location.searchParams.get('rd')).toBe(env.appUrl('/page'));
  });
});

describe('CORS preflights', () => {
  const preflight = { origin: 'http://web.test', 'access-control-request-method': 'PUT', 'access-control-request-headers': 'content-type' };

  it('are forwarded without sign-in on a route with allow_cors_preflight', async () => {
    const before = env.upstream.received.length;
    const res = await send(`http://api.test:${env.port}/items/1`, { method: 'OPTIONS', headers: preflight });
    expect(res.status).toBe(200);
    const got = env.upstream.received.slice(before);
    expect(got).toHaveLength(1);
    expect(got[0]!.method).toBe('OPTIONS');
    expect(got[0]!.url).toBe('/items/1');
    expect(got[0]!.headers['access-control-request-method']).toBe('PUT');
    // no identity was asserted for it
    expect(got[0]!.headers['x-forwarded-user']).toBeUndefined();
  });

  it('need a session on a route without it', async () => {
    const before = env.upstream.received.length;
    const res = await send(env.appUrl('/items/1'), { method: 'OPTIONS', headers: preflight });
    expect(res.status).toBe(401);
    expect(env.upstream.received.length).toBe(before);
  });

  it('only preflights pass: other requests on that route still need a session', async () => {
    const before = env.upstream.received.length;
    const plainOptions = await send(`http://api.test:${env.port}/items/1`, { method: 'OPTIONS', headers: { origin: 'http://web.test' } });
    expect(plainOptions.status).toBe(401);
    const get = await send(`http://api.test:${env.port}/items/1`, { headers: { origin: 'http://web.test', 'access-control-request-method': 'GET' } });
    expect(get.status).toBe(401);
    expect(env.upstream.received.length).toBe(before);
  });
});
