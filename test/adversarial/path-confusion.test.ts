// Class 1: the policy must check the same path the upstream serves. The route allows any
// signed-in user and denies /admin; every spelling of /admin below must either be refused
// or arrive at the upstream as something no common server reads as /admin (the check
// decodes twice, strips ;parameters, turns \ into / and folds Unicode compatibility forms).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { get, raw, reachesAdmin, startTarget, type RawReply, type Target } from './harness.ts';

let t: Target;
beforeAll(async () => {
  t = await startTarget();
});
afterAll(async () => {
  await t?.stop();
});

function expectAdminUnreachable(r: RawReply): void {
  for (const req of r.upstream) expect(reachesAdmin(req.url), `upstream received ${req.url}`).toBe(false);
  if (r.upstream.length === 0) expect([400, 403, 404]).toContain(r.status);
}

describe('the deny rule on /admin is what it looks like', () => {
  it('a plain /admin is refused with 403 and a plain /ok is served (the controls)', async () => {
    const denied = await get(t, '/admin');
    expect(denied.status).toBe(403);
    expect(denied.upstream).toHaveLength(0);
    const allowed = await get(t, '/ok');
    expect(allowed.status).toBe(200);
    expect(allowed.upstream.map((x) => x.url)).toEqual(['/ok']);
  });

  it.each([
    ['a raw dot-dot segment', '/x/../admin'],
    ['a raw dot segment', '/./admin'],
    ['a doubled slash', '//admin'],
    ['a doubled slash inside', '/x//..//admin'],
    ['a percent-encoded letter', '/%61dmin'],
    ['a trailing slash', '/admin/'],
    ['a trailing dot segment', '/admin/.'],
    ['a path parameter', '/admin;x'],
    ['a jsessionid parameter under /admin', '/admin;jsessionid=1/users'],
    ['a parameter on a segment before ..', '/x;y/../admin'],
    ['a query that looks like a path', '/admin?/../ok'],
    ['an absolute-form target', 'http://app.test/x/../admin'],
  ])('%s (%s) is normalized to /admin and refused by the deny rule', async (_name, target) => {
    const r = await get(t, target);
    expect(r.status).toBe(403);
    expect(r.upstream).toHaveLength(0);
  });

  it.each([
    ['an encoded dot-dot segment', '/x/%2e%2e/admin'],
    ['an upper-case encoded dot-dot segment', '/x/%2E%2E/admin'],
    ['a half-encoded dot segment', '/%2e/admin'],
    ['a double-encoded dot-dot segment', '/x/%252e%252e/admin'],
    ['a double-encoded letter (for upstreams that decode twice)', '/%2561dmin'],
    ['an encoded slash', '/x%2f..%2fadmin'],
    ['a double-encoded slash', '/x%252f..%252fadmin'],
    ['an encoded backslash', '/x%5c..%5cadmin'],
    ['a raw backslash', '/x\\..\\admin'],
    ['a Tomcat-style ..; segment', '/..;/admin'],
    ['a Tomcat-style ..; segment below a directory', '/x/..;/admin'],
    ['a .; segment', '/.;/admin'],
    ['an empty segment with a parameter (found by the fuzzer)', '/;/admin;x/x'],
    ['an empty segment with a named parameter', '/;jsessionid=1/admin'],
    ['an overlong UTF-8 dot', '/%c0%ae%c0%ae/admin'],
    ['an overlong UTF-8 slash', '/x%c0%af..%c0%afadmin'],
    ['a three-byte overlong slash', '/x%e0%80%afadmin'],
    ['IIS %u encoding', '/%u0061dmin'],
    ['an encoded NUL after admin', '/admin%00.css'],
    ['a fullwidth solidus', '/%EF%BC%8Fadmin'],
    ['a fullwidth letter a', '/%EF%BD%81dmin'],
    ['a fullwidth full stop pair', '/x/%EF%BC%8E%EF%BC%8E/admin'],
    ['a fragment hiding a dot-dot', '/x#/../admin'],
    ['a bare fragment', '/admin#'],
  ])('%s (%s) is refused with 400 before any upstream sees it', async (_name, target) => {
    const r = await get(t, target);
    expect(r.status).toBe(400);
    expect(r.upstream).toHaveLength(0);
    expectAdminUnreachable(r);
  });

  it('raw UTF-8 fullwidth characters in the request line never reach /admin', async () => {
    for (const path of ['/／admin', '/ａdmin']) {
      const bytes = Buffer.concat([Buffer.from('GET '), Buffer.from(path, 'utf8'), Buffer.from(` HTTP/1.1\r\nHost: app.test\r\nCookie: ${t.cookie}\r\nAccept: application/json\r\nConnection: close\r\n\r\n`)]);
      const r = await raw(t, bytes);
      expectAdminUnreachable(r);
      expect(r.status).not.toBe(200);
    }
  });

  it('a raw NUL byte after /admin is refused', async () => {
    const r = await raw(t, `GET /admin\0.css HTTP/1.1\r\nHost: app.test\r\nCookie: ${t.cookie}\r\nConnection: close\r\n\r\n`);
    expect(r.status).toBe(400);
    expect(r.upstream).toHaveLength(0);
  });

  it('paths are case-sensitive: /ADMIN is another path, reaches the upstream exactly as /ADMIN (case-insensitive upstreams need an allow list)', async () => {
    const r = await get(t, '/ADMIN');
    expect(r.status).toBe(200);
    expect(r.upstream.map((x) => x.url)).toEqual(['/ADMIN']);
    expectAdminUnreachable(r);
  });

  it('a trailing dot (/admin.) is another path and arrives unchanged; Windows upstreams that drop it need an allow list', async () => {
    const r = await get(t, '/admin.');
    expect(r.upstream.map((x) => x.url)).toEqual(['/admin.']);
    expect(r.status).toBe(200);
  });

  it('a look-alike prefix (/administrator) is not under /admin and is served as itself', async () => {
    const r = await get(t, '/administrator');
    expect(r.status).toBe(200);
    expect(r.upstream.map((x) => x.url)).toEqual(['/administrator']);
  });

  it('pipelined on one connection, a harmless request does not carry a smuggled /admin past the rule', async () => {
    const one = `GET /ok HTTP/1.1\r\nHost: app.test\r\nCookie: ${t.cookie}\r\nAccept: application/json\r\n\r\n`;
    const two = `GET /x/../admin HTTP/1.1\r\nHost: app.test\r\nCookie: ${t.cookie}\r\nAccept: application/json\r\nConnection: close\r\n\r\n`;
    const r = await raw(t, one + two);
    expect(r.raw.match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 403']);
    expect(r.upstream.map((x) => x.url)).toEqual(['/ok']);
  });
});
