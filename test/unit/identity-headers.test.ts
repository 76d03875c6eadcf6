// The identity headers an upstream receives, rendered once per session object.
import { describe, expect, it } from 'vitest';
import { compileTemplate, pushIdentityHeaders } from '../../src/identity/inject.ts';
import type { SessionData } from '../../src/auth/session-data.ts';

const session = (over: Partial<SessionData> = {}): SessionData => ({ v: 1, sub: 'u-1', email: 'alice@example.com', name: 'Alice', groups: ['eng', 'ops'], claims: { department: 'R&D' }, tokenExpiresAt: 0, createdAt: 0, ...over });

const headersOf = (s: SessionData, user = compileTemplate('{user}', 'email'), extra: [string, ReturnType<typeof compileTemplate>][] = []) => {
  const out = ['host', 'app.test'];
  pushIdentityHeaders(out, s, user, extra);
  return out;
};

describe('identity headers', () => {
  it('user, email and groups after what was there, then the route’s own', () => {
    expect(headersOf(session(), undefined, [['x-department', compileTemplate('{department}', 'email')]])).toEqual([
      'host',
      'app.test',
      'x-forwarded-user',
      'alice@example.com',
      'x-forwarded-email',
      'alice@example.com',
      'x-forwarded-groups',
      'eng,ops',
      'x-department',
      'R&D',
    ]);
  });

  it('no email header for a session without an email, and header-safe values', () => {
    const headers = headersOf(session({ email: undefined, sub: 'ünï', groups: ['a,b', '50%'] }), compileTemplate('{sub}', 'sub'));
    expect(headers).toEqual(['host', 'app.test', 'x-forwarded-user', '%C3%BCn%C3%AF', 'x-forwarded-groups', 'a%2Cb,50%25']);
    expect(headersOf(session({ email: 'bob\r\nx-evil: 1@example.com' }))[5]).toBe('bobx-evil: 1@example.com');
  });

  it('the same session object rendered with another user template (after a reload) gets that template’s value', () => {
    const s = session();
    expect(headersOf(s, compileTemplate('{email}', 'email'))[3]).toBe('alice@example.com');
    expect(headersOf(s, compileTemplate('{sub}', 'email'))[3]).toBe('u-1');
    expect(headersOf(s, compileTemplate('{name} <{email}>', 'email'))[3]).toBe('Alice <alice@example.com>');
  });

  it('a rendered list is not handed out to be changed: each request gets its own entries appended', () => {
    const s = session();
    const first = headersOf(s);
    first.push('x-later', '1');
    expect(headersOf(s)).toHaveLength(8);
  });
});
