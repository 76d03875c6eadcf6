// Properties that must hold for any facts: deny wins, and missing or unreadable facts never allow.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { facts, USER, DEVICE } from './policy-fixtures.ts';
import { compileStandalonePolicy } from '../../src/policy/compile.ts';
import { evaluate } from '../../src/policy/evaluate.ts';
import type { Facts } from '../../src/policy/facts.ts';

/** One rule per criterion, each satisfied by the default facts. */
const CRITERIA: Record<string, Record<string, unknown>> = {
  authenticated: { authenticated: true },
  users: { users: ['u-ann'] },
  emails: { emails: ['ann@example.com'] },
  email_domains: { email_domains: ['example.com'] },
  groups: { groups: ['finance'] },
  not_groups: { not_groups: ['contractors'] },
  claims: { claims: { claim: 'department', equals: 'accounting' } },
  mfa: { mfa: true },
  acr: { acr: ['urn:acme:silver'] },
  max_auth_age: { max_auth_age: '1h' },
  network: { network: ['10.0.0.0/8'] },
  country: { country: ['DE'] },
  time: { time: { days: ['mon-fri'], hours: '07:00-20:00', timezone: 'Europe/Berlin' } },
  methods: { methods: ['GET'] },
  paths: { paths: ['/'] },
  device: { device: { managed: true, disk_encrypted: true, max_risk: 'low', os_min: { macos: '14.0' } } },
  not: { not: { country: ['KP'] } },
};

/** Ways to make the facts each criterion reads missing or unreadable. */
const garbage = fc.constantFrom<unknown>(undefined, null, '', 0, NaN, -1, true, [], {}, 'garbage', ['x', 1], { toString: 'x' }, '\u0000', 1e300);

const spoilers: Record<string, (g: unknown) => Partial<Record<'user' | 'request' | 'device' | 'now', unknown>>> = {
  user: (g) => ({ user: g }),
  sub: (g) => ({ user: { ...USER, sub: g } }),
  email: (g) => ({ user: { ...USER, email: g } }),
  emailVerified: (g) => ({ user: { ...USER, emailVerified: g } }),
  groups: (g) => ({ user: { ...USER, groups: g } }),
  claims: (g) => ({ user: { ...USER, claims: g } }),
  amr: (g) => ({ user: { ...USER, amr: g } }),
  acr: (g) => ({ user: { ...USER, acr: g } }),
  authTime: (g) => ({ user: { ...USER, authTime: g } }),
  clientIp: (g) => ({ request: { method: 'GET', path: '/', country: 'DE', clientIp: g } }),
  country: (g) => ({ request: { method: 'GET', path: '/', clientIp: '10.1.2.3', country: g } }),
  method: (g) => ({ request: { path: '/', clientIp: '10.1.2.3', country: 'DE', method: g } }),
  path: (g) => ({ request: { method: 'GET', clientIp: '10.1.2.3', country: 'DE', path: g } }),
  device: (g) => ({ device: g }),
  deviceClaims: (g) => ({ device: { ok: true, claims: g } }),
  deviceClaim: (g) => ({ device: { ok: true, claims: { ...(DEVICE as { claims: object }).claims, managed: g, os_version: g } } }),
  now: (g) => ({ now: g }),
};

/** Which fact(s) each criterion depends on; spoiling them must never yield an allow. */
const READS: Record<string, string[]> = {
  authenticated: ['user', 'sub'],
  users: ['user', 'sub'],
  emails: ['user', 'sub', 'email', 'emailVerified'],
  email_domains: ['user', 'sub', 'email', 'emailVerified'],
  groups: ['user', 'sub', 'groups'],
  not_groups: ['user', 'sub', 'groups'],
  claims: ['user', 'sub', 'claims'],
  mfa: ['user', 'sub', 'amr'],
  acr: ['user', 'sub', 'acr'],
  max_auth_age: ['user', 'sub', 'authTime', 'now'],
  network: ['clientIp'],
  country: ['country'],
  time: ['now'],
  methods: ['method'],
  paths: ['path'],
  device: ['device', 'deviceClaims', 'deviceClaim'],
  not: ['country'],
};

describe('policy properties', () => {
  it('every criterion allows with the default facts (so the properties below are meaningful)', () => {
    for (const [name, rule] of Object.entries(CRITERIA)) expect(evaluate(compileStandalonePolicy({ allow: [rule] }), facts()).allow, name).toBe(true);
  });

  for (const [name, rule] of Object.entries(CRITERIA)) {
    it(`${name}: missing or unreadable facts never allow`, () => {
      const policy = compileStandalonePolicy({ allow: [rule] });
      fc.assert(
        fc.property(fc.constantFrom(...READS[name]!), garbage, (fact, g) => {
          const spoiled = { ...facts(), ...spoilers[fact]!(g) } as Facts;
          // Some "garbage" is a legitimate value of that fact (any non-empty string is a sub); skip those.
          fc.pre(!legitimate(fact, g));
          expect(evaluate(policy, spoiled).allow).toBe(false);
        }),
        { numRuns: 300 },
      );
    });
  }

  it('a matching deny rule always wins over any allow rules', () => {
    const rule = fc.constantFrom(...Object.values(CRITERIA));
    fc.assert(
      fc.property(fc.array(rule, { minLength: 1, maxLength: 4 }), fc.array(rule, { maxLength: 3 }), rule, (allows, otherDenies, matchingDeny) => {
        const policy = compileStandalonePolicy({ allow: allows, deny: [...otherDenies, matchingDeny] });
        const d = evaluate(policy, facts());
        expect(d.allow).toBe(false);
        expect(d.reasons[0]!.code).toBe('deny-rule-matched');
      }),
      { numRuns: 300 },
    );
  });

  it('random facts never make a policy throw, and a policy-error is never an allow', () => {
    const policy = compileStandalonePolicy({ allow: Object.values(CRITERIA) });
    fc.assert(
      fc.property(fc.anything(), fc.anything(), fc.anything(), fc.anything(), (user, request, device, now) => {
        const d = evaluate(policy, { user, request, device, now } as unknown as Facts);
        if (d.reasons.some((r) => r.code === 'policy-error')) expect(d.allow).toBe(false);
      }),
      { numRuns: 500 },
    );
  });
});

/** Values that are not missing or malformed for that fact, just different. */
function legitimate(fact: string, g: unknown): boolean {
  if (fact === 'sub') return typeof g === 'string' && g !== '';
  if (fact === 'emailVerified') return g === true;
  if (fact === 'groups') return Array.isArray(g) && g.every((x) => typeof x === 'string');
  return false;
}
