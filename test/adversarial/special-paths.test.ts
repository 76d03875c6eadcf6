// Class 9: paths that are special to Portcullis or to common apps. Portcullis's own
// endpoints are answered by Portcullis however they are spelled (or refused), never
// forwarded; health and well-known paths of the upstream are no back door; and no
// user agent or query string changes a decision.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { get, raw, startTarget, type Target } from './harness.ts';

let t: Target;
beforeAll(async () => {
  t = await startTarget({
    routes: `
  - name: app
    from: http://app.test
    to: \${UPSTREAM}
    policy: { allow: [ { authenticated: true } ], deny: [ { paths: [/admin] } ] }
  - name: wiki
    from: http://app.test/wiki
    to: \${UPSTREAM}/wiki-base
    policy: { allow: [ { authenticated: true } ] }
  - name: public
    from: http://public.test
    to: \${UPSTREAM}
    public: true`,
  });
});
afterAll(async () => {
  await t?.stop();
});

describe('Portcullis\'s own endpoints', () => {
  it.each([
    ['through a doubled slash', '//.portcullis/userinfo'],
    ['through a dot-dot segment', '/app/../.portcullis/userinfo'],
    ['through a dot segment', '/./.portcullis/userinfo'],
    ['below a route path prefix', '/wiki/../.portcullis/userinfo'],
  ])('%s (%s) are answered by Portcullis, not the upstream', async (_name, target) => {
    for (const host of ['app.test', 'public.test']) {
      const r = await get(t, target, [], host);
      expect(r.upstream).toHaveLength(0);
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body).sub).toBe('alice');
    }
  });

  it.each([
    ['an encoded dot', '/%2eportcullis/userinfo'],
    ['a double-encoded dot', '/%252eportcullis/userinfo'],
    ['an encoded slash', '/.portcullis%2fuserinfo'],
    ['a backslash', '/\\.portcullis/userinfo'],
  ])('%s (%s) is refused with 400', async (_name, target) => {
    const r = await get(t, target, [], 'public.test');
    expect(r.status).toBe(400);
    expect(r.upstream).toHaveLength(0);
  });

  it('an unknown /.portcullis/ path is a 404 from Portcullis, not forwarded, even on the public route', async () => {
    for (const target of ['/.portcullis/', '/.portcullis', '/.portcullis/admin', '/.portcullis/start/x', '/.well-known/portcullis/other']) {
      const r = await get(t, target, [], 'public.test');
      expect(r.upstream, target).toHaveLength(0);
      expect(r.status, target).not.toBe(200);
    }
  });

  it('/.PORTCULLIS/ is an ordinary path: it needs a session on a protected route, like any other', async () => {
    const r = await get(t, '/.PORTCULLIS/userinfo', [], 'app.test', false);
    expect(r.status).toBe(401);
    expect(r.upstream).toHaveLength(0);
  });
});

describe('health, metrics and well-known paths of the protected app are no back door', () => {
  it.each(['/healthz', '/readyz', '/metrics', '/admin/sessions', '/.well-known/openid-configuration', '/.well-known/security.txt', '/favicon.ico', '/robots.txt', '/server-status', '/actuator/health'])('%s needs a session on the protected route', async (target) => {
    const r = await get(t, target, [], 'app.test', false);
    expect(r.status).toBe(401);
    expect(r.upstream).toHaveLength(0);
  });

  it('the admin API is not on the public listener, even with a session', async () => {
    const r = await get(t, '/admin/sessions?confirm=all', [], 'public.test');
    expect(r.upstream.map((x) => x.url)).toEqual(['/admin/sessions?confirm=all']); // the public app's own path, nothing of Portcullis
    expect(r.body).not.toContain('revoked');
  });
});

describe('nothing in the user agent or the query changes a decision', () => {
  it.each([
    ['a search engine crawler', 'User-Agent: Googlebot/2.1 (+http://www.google.com/bot.html)'],
    ['a load balancer health check', 'User-Agent: ELB-HealthChecker/2.0'],
    ['a Kubernetes probe', 'User-Agent: kube-probe/1.30'],
    ['a CORS preflight look-alike (GET with Origin)', 'Origin: http://evil.test'],
    ['X-Requested-With', 'X-Requested-With: XMLHttpRequest'],
  ])('%s without a session is still sent to sign in', async (_name, line) => {
    const r = await get(t, '/ok', [line], 'app.test', false);
    expect(r.status).toBe(401);
    expect(r.upstream).toHaveLength(0);
  });

  it.each(['/ok?portcullis=1', '/ok?.portcullis/userinfo', '/ok?/../.portcullis/start', '/ok?rd=/&__portcullis_public=1', '/.portcullis/userinfo?x=/../../ok'])('%s without a session does not reach the upstream', async (target) => {
    const r = await get(t, target, [], 'app.test', false);
    expect(r.upstream).toHaveLength(0);
    expect(r.status).toBe(401);
  });

  it('a query cannot make /admin look like another path', async () => {
    for (const target of ['/admin?/ok', '/admin?x=/../ok', '/admin?']) {
      const r = await get(t, target);
      expect(r.status, target).toBe(403);
      expect(r.upstream).toHaveLength(0);
    }
  });

  it('an OPTIONS preflight on a route without allow_cors_preflight needs a session', async () => {
    const r = await raw(t, 'OPTIONS /ok HTTP/1.1\r\nHost: app.test\r\nOrigin: http://evil.test\r\nAccess-Control-Request-Method: DELETE\r\nAccept: application/json\r\nConnection: close\r\n\r\n');
    expect(r.status).toBe(401);
    expect(r.upstream).toHaveLength(0);
  });
});
