// Class 2: a signed-in user tries to be someone else to the upstream by sending the
// identity headers Portcullis sets. Whatever the spelling, the upstream must receive
// exactly one copy of each identity header, with the verified values, and nothing else.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { get, raw, startTarget, type RawReply, type Target } from './harness.ts';

let t: Target;
beforeAll(async () => {
  t = await startTarget();
});
afterAll(async () => {
  await t?.stop();
});

const IDENTITY = ['x-forwarded-user', 'x-forwarded-email', 'x-forwarded-groups', 'x-remote-user', 'x-portcullis-jwt-assertion'];

/** Every header the upstream received, as [canonical name, value] (underscores read as dashes, as many servers do). */
function received(r: RawReply): [string, string][] {
  expect(r.upstream).toHaveLength(1);
  const h = r.upstream[0]!.rawHeaders;
  const out: [string, string][] = [];
  for (let i = 0; i < h.length; i += 2) out.push([h[i]!.toLowerCase().replaceAll('_', '-'), h[i + 1]!]);
  return out;
}

/** The upstream saw alice, once per header, and no trace of the forged values. */
function expectVerifiedIdentityOnly(r: RawReply): void {
  expect(r.status).toBe(200);
  const headers = received(r);
  const values = (name: string) => headers.filter(([n]) => n === name).map(([, v]) => v);
  expect(values('x-forwarded-user')).toEqual([t.user]);
  expect(values('x-forwarded-email')).toEqual([t.email]);
  expect(values('x-forwarded-groups')).toEqual(['engineering,admins']);
  expect(values('x-remote-user')).toEqual([t.email]);
  expect(values('x-portcullis-jwt-assertion')).toHaveLength(1);
  const payload = JSON.parse(Buffer.from(values('x-portcullis-jwt-assertion')[0]!.split('.')[1]!, 'base64url').toString()) as { sub: string };
  expect(payload.sub).toBe(t.user);
  expect(values('x-forwarded-for')).toEqual(['127.0.0.1']);
  expect(values('x-forwarded-host')).toEqual(['app.test']);
  for (const [name, value] of headers) {
    expect(value, `${name} carries a forged value`).not.toMatch(/mallory|evil|admins-forged/i);
    if (name.startsWith('x-portcullis-') || name.startsWith('x-auth-request-')) expect(IDENTITY).toContain(name);
  }
}

describe('identity headers sent by a signed-in client never reach the upstream', () => {
  it.each([
    ['the exact name', 'X-Forwarded-User: mallory'],
    ['lower case', 'x-forwarded-user: mallory'],
    ['upper case', 'X-FORWARDED-USER: mallory'],
    ['underscores', 'X_Forwarded_User: mallory'],
    ['mixed dashes and underscores', 'x-forwarded_user: mallory'],
    ['the email header', 'X-Forwarded-Email: mallory@evil.test'],
    ['the groups header', 'X-Forwarded-Groups: admins-forged'],
    ['a route-configured header', 'X-Remote-User: mallory@evil.test'],
    ['a route-configured header with underscores', 'x_remote_user: mallory@evil.test'],
    ['the signed assertion', 'X-Portcullis-Jwt-Assertion: eyJhbGciOiJub25lIn0.eyJzdWIiOiJtYWxsb3J5In0.'],
    ['any other X-Portcullis- header', 'X-Portcullis-Evil: 1'],
    ['oauth2-proxy style headers', 'X-Auth-Request-User: mallory'],
    ['Remote-User', 'Remote-User: mallory'],
  ])('%s (%s) is replaced by the verified value', async (_name, line) => {
    expectVerifiedIdentityOnly(await get(t, '/who', [line]));
  });

  it('several copies in several spellings at once, before and after the cookie, are all dropped', async () => {
    const r = await raw(
      t,
      [
        'GET /who HTTP/1.1',
        'X-Forwarded-User: mallory',
        'Host: app.test',
        'x-forwarded-user: mallory2',
        `Cookie: ${t.cookie}`,
        'X_FORWARDED_USER: mallory3',
        'X-Forwarded-User:',
        'X-Forwarded-Email: evil@evil.test',
        'X-Forwarded-Groups: admins-forged',
        'X-Forwarded-Groups: admins-forged',
        'Connection: close',
      ].join('\r\n') + '\r\n\r\n',
    );
    expectVerifiedIdentityOnly(r);
  });

  it('naming identity headers in Connection cannot remove the verified ones after injection', async () => {
    const r = await raw(t, `GET /who HTTP/1.1\r\nHost: app.test\r\nCookie: ${t.cookie}\r\nConnection: X-Forwarded-User, X-Forwarded-Email, X-Forwarded-Groups, X-Remote-User, X-Portcullis-Jwt-Assertion, X-Forwarded-For, close\r\nX-Forwarded-User: mallory\r\n\r\n`);
    expectVerifiedIdentityOnly(r);
  });

  it('a folded (obs-fold) continuation line cannot smuggle an identity header in', async () => {
    const r = await raw(t, `GET /who HTTP/1.1\r\nHost: app.test\r\nCookie: ${t.cookie}\r\nX-Note: harmless\r\n X-Forwarded-User: mallory\r\nX-Forwarded-User: mallory\r\n\tadmin\r\nConnection: close\r\n\r\n`);
    if (r.upstream.length === 0) expect(r.status).toBe(400);
    else expectVerifiedIdentityOnly(r);
  });

  it('a header name with whitespace before the colon is refused, not read as X-Forwarded-User', async () => {
    const r = await raw(t, `GET /who HTTP/1.1\r\nHost: app.test\r\nCookie: ${t.cookie}\r\nX-Forwarded-User : mallory\r\nConnection: close\r\n\r\n`);
    expect(r.status).toBe(400);
    expect(r.upstream).toHaveLength(0);
  });

  it('on a public route no identity header reaches the upstream at all, forged or not', async () => {
    const r = await get(t, '/who', ['X-Forwarded-User: mallory', 'X_Forwarded_Email: evil@evil.test', 'X-Portcullis-Jwt-Assertion: forged', 'X-Remote-User: mallory'], 'public.test');
    expect(r.status).toBe(200);
    const names = r.upstream[0]!.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase().replaceAll('_', '-'));
    for (const name of ['x-forwarded-user', 'x-forwarded-email', 'x-forwarded-groups', 'x-remote-user', 'x-portcullis-jwt-assertion']) expect(names).not.toContain(name);
  });

  it('the Portcullis session cookie never reaches the upstream, whatever its spelling in Cookie', async () => {
    const ticket = t.cookie.split('=')[1]!;
    const r = await raw(t, `GET /who HTTP/1.1\r\nHost: app.test\r\nCookie: a=1; ${t.cookie}; b=2\r\nCookie: portcullis=${ticket}\r\nConnection: close\r\n\r\n`);
    expect(r.status).toBe(200);
    expect(JSON.stringify(r.upstream[0]!.rawHeaders)).not.toContain(ticket);
  });
});
