// Class 4: the host decides the route, so every way of naming two hosts at once, or a
// host no route names, must be refused before anything is forwarded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { raw, startTarget, type Target } from './harness.ts';

let t: Target;
beforeAll(async () => {
  t = await startTarget();
});
afterAll(async () => {
  await t?.stop();
});

function request(line: string, headers: string[]): string {
  return [line, ...headers, 'Accept: application/json', 'Connection: close'].join('\r\n') + '\r\n\r\n';
}

describe('one request, one host', () => {
  it.each([
    ['an absolute-form target on the public route with Host naming the app', 'GET http://public.test/admin HTTP/1.1', ['Host: app.test']],
    ['an absolute-form target on the app with Host naming the public route', 'GET http://app.test/admin HTTP/1.1', ['Host: public.test']],
    ['userinfo in an absolute-form target', 'GET http://public.test@app.test/admin HTTP/1.1', []],
    ['userinfo with a port in an absolute-form target', 'GET http://app.test:80@public.test/admin HTTP/1.1', []],
    ['userinfo in Host', 'GET /admin HTTP/1.1', ['Host: public.test@app.test']],
    ['two Host headers in different case', 'GET /admin HTTP/1.1', ['Host: public.test', 'HOST: app.test']],
    ['a Host list', 'GET /admin HTTP/1.1', ['Host: public.test, app.test']],
    ['a Host with a path', 'GET /admin HTTP/1.1', ['Host: public.test/app.test']],
    ['a Host with two ports', 'GET /admin HTTP/1.1', ['Host: public.test:80:80']],
    ['a Host with a space inside', 'GET /admin HTTP/1.1', ['Host: public.test app.test']],
    ['an empty Host', 'GET /admin HTTP/1.1', ['Host: ']],
    ['a Host with an encoded dot', 'GET /admin HTTP/1.1', ['Host: public%2etest']],
    ['a scheme other than http(s)', 'GET ftp://public.test/admin HTTP/1.1', ['Host: public.test']],
    ['a missing Host on HTTP/1.0', 'GET /admin HTTP/1.0', []],
  ])('%s is refused with 400 and forwards nothing', async (_name, line, headers) => {
    const r = await raw(t, request(line, headers));
    expect(r.status).toBe(400);
    expect(r.upstream).toHaveLength(0);
  });

  it.each([
    ['an unknown host', 'Host: evil.test'],
    ['a subdomain of a served host', 'Host: x.app.test'],
    ['a served host as a suffix', 'Host: app.test.evil.test'],
    ['a served host with a prefix', 'Host: evilapp.test'],
    ['an IPv4 literal', 'Host: 127.0.0.1'],
    ['an IPv6 literal', 'Host: [::1]'],
    ['an IPv4-mapped IPv6 literal', 'Host: [::ffff:127.0.0.1]:80'],
  ])('%s gets 404 and forwards nothing', async (_name, host) => {
    const r = await raw(t, request('GET /admin HTTP/1.1', [host, `Cookie: ${t.cookie}`]));
    expect(r.status).toBe(404);
    expect(r.upstream).toHaveLength(0);
  });

  it.each([
    ['upper case', 'APP.TEST'],
    ['a trailing dot', 'app.test.'],
    ['a port', 'app.test:8080'],
    ['a trailing dot and a port', 'App.Test.:1'],
  ])('the app host written with %s (%s) is the app, so its deny rule still applies', async (_name, host) => {
    const denied = await raw(t, request('GET /admin HTTP/1.1', [`Host: ${host}`, `Cookie: ${t.cookie}`]));
    expect(denied.status).toBe(403);
    expect(denied.upstream).toHaveLength(0);
    const anonymous = await raw(t, request('GET /ok HTTP/1.1', [`Host: ${host}`]));
    expect(anonymous.status).toBe(401);
    expect(anonymous.upstream).toHaveLength(0);
  });

  it('the upstream receives its own Host, not the one the client wrote', async () => {
    const r = await raw(t, request('GET /ok HTTP/1.1', ['Host: APP.test.', `Cookie: ${t.cookie}`]));
    expect(r.status).toBe(200);
    expect(r.upstream[0]!.headers.host).toBe(new URL(t.upstream.url).host);
  });
});
