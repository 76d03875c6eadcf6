// emails and email_domains: only a verified address, matched exactly.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { criterion, facts, outcome } from './policy-fixtures.ts';
import { emailDomain } from '../../src/policy/criteria/email-domains.ts';
import { compileStandalonePolicy } from '../../src/policy/compile.ts';

const verified = (email: string) => facts({ user: { email, emailVerified: true } });

describe('emails: exact address, case-insensitive', () => {
  it.each<[string, string, string]>([
    ['the listed address', 'ann@example.com', 'pass'],
    ['another case of it', 'Ann@EXAMPLE.com', 'pass'],
    ['another address', 'bob@example.com', 'fail'],
    ['an address with a suffix', 'ann@example.com.evil.com', 'fail'],
    ['a Kelvin sign does not fold to k (kann@ is listed)', '\u212Ann@example.com', 'fail'],
  ])('%s', (_, email, want) => expect(outcome({ emails: ['ann@example.com', 'kann@example.com'] }, verified(email))).toBe(want));

  it.each([
    ['an unverified address is unknown', facts({ user: { email: 'ann@example.com', emailVerified: false } }), 'unknown', 'email-unverified'],
    ['no address is unknown', facts({ user: { email: undefined } }), 'unknown', 'email-missing'],
    ['nobody signed in is unknown', facts({ user: null }), 'unknown', 'user-unauthenticated'],
  ] as const)('%s', (_, f, want, code) => {
    const c = criterion({ emails: ['ann@example.com'] });
    expect(c.test(f, false)).toBe(want);
    expect(c.explain(f, want).code).toBe(code);
  });
});

describe('email_domains: the part after the one "@", exactly', () => {
  const rule = { email_domains: ['example.com', 'Example.ORG', 'kiwi.com'] };
  it.each<[string, string, string]>([
    ['the domain', 'ann@example.com', 'pass'],
    ['the domain in upper case', 'ANN@EXAMPLE.COM', 'pass'],
    ['a domain listed in mixed case', 'ann@example.org', 'pass'],
    ['a longer domain ending in it', 'ann@evilexample.com', 'fail'],
    ['the domain as a subdomain of another', 'ann@example.com.evil.com', 'fail'],
    ['a subdomain of it', 'ann@mail.example.com', 'fail'],
    ['a trailing dot', 'ann@example.com.', 'fail'],
    ['trailing whitespace', 'ann@example.com ', 'fail'],
    ['a quoted domain', 'ann@"example.com"', 'fail'],
    ['a Cyrillic look-alike (IDN homoglyph)', 'ann@ex\u0430mple.com', 'fail'],
    ['a Kelvin sign that Unicode lower-cases to k', 'ann@\u212Aiwi.com', 'fail'],
    ['a full-width look-alike', 'ann@\uFF45xample.com', 'fail'],
    ['punycode of a look-alike', 'ann@xn--exmple-4nf.com', 'fail'],
  ])('%s', (_, email, want) => expect(outcome(rule, verified(email))).toBe(want));

  it.each<[string, string]>([
    ['a second "@" hiding the real domain', 'a@evil.com@example.com'],
    ['a quoted local part with "@"', '"a@evil.com"@example.com'],
    ['no "@"', 'example.com'],
    ['nothing before "@"', '@example.com'],
    ['nothing after "@"', 'ann@'],
  ])('%s is malformed: unknown, never a match', (_, email) => {
    const c = criterion(rule);
    expect(c.test(verified(email), false)).toBe('unknown');
    expect(c.explain(verified(email), 'unknown').code).toBe('email-malformed');
  });

  it('an unverified address in the domain is unknown (email-unverified)', () => {
    const f = facts({ user: { email: 'ann@example.com', emailVerified: false } });
    expect(outcome(rule, f)).toBe('unknown');
    expect(criterion(rule).explain(f, 'unknown').code).toBe('email-unverified');
  });

  it('emailDomain takes exactly the part after the single "@"', () => {
    expect(emailDomain('a@b.c')).toBe('b.c');
    expect(emailDomain('a@b@c')).toBeUndefined();
  });

  it('refuses wildcard, "@" and suffix-style domains in the config', () => {
    expect(() => compileStandalonePolicy({ allow: [{ email_domains: ['*.example.com'] }] })).toThrow(/never their subdomains/);
    expect(() => compileStandalonePolicy({ allow: [{ email_domains: ['@example.com'] }] })).toThrow(/without "@"/);
    expect(() => compileStandalonePolicy({ allow: [{ email_domains: ['.example.com'] }] })).toThrow(/never their subdomains/);
  });

  it('property: only an address whose domain is exactly example.com (any ASCII case) passes', () => {
    const c = criterion({ email_domains: ['example.com'] });
    const domainish = fc.string({ unit: fc.constantFrom(...'abcdeEXAMPLmpl.com@"\\ -_\u212A\u0430'.split('')), maxLength: 24 });
    fc.assert(
      fc.property(domainish, domainish, fc.boolean(), (local, domain, verifiedFlag) => {
        const email = `${local}@${domain}`;
        const o = c.test(facts({ user: { email, emailVerified: verifiedFlag } }), false);
        const exact = verifiedFlag && local.length > 0 && !local.includes('@') && !domain.includes('@') && domain.replace(/[A-Z]/g, (x) => x.toLowerCase()) === 'example.com';
        expect(o === 'pass').toBe(exact);
      }),
      { numRuns: 2000 },
    );
  });

  it('property: any prefix or suffix around example.com never passes', () => {
    const c = criterion({ email_domains: ['example.com'] });
    fc.assert(
      fc.property(fc.string({ maxLength: 10 }), fc.string({ maxLength: 10 }), (before, after) => {
        fc.pre(before.length + after.length > 0);
        expect(c.test(verified(`ann@${before}example.com${after}`), false)).not.toBe('pass');
      }),
      { numRuns: 1000 },
    );
  });
});
