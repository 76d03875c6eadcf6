// mfa, acr, max_auth_age: how strong and how recent the sign-in was.
import { describe, expect, it } from 'vitest';
import { criterion, facts, outcome, NOW } from './policy-fixtures.ts';
import { DEFAULT_MFA_METHODS } from '../../src/policy/criteria/mfa.ts';
import type { Facts } from '../../src/policy/facts.ts';

describe('mfa', () => {
  it.each<[string, Facts, string]>([
    ['amr "mfa" passes', facts({ user: { amr: ['pwd', 'mfa'] } }), 'pass'],
    ['a one-time code passes', facts({ user: { amr: ['pwd', 'otp'] } }), 'pass'],
    ['a hardware key passes', facts({ user: { amr: ['hwk'] } }), 'pass'],
    ['a password alone fails', facts({ user: { amr: ['pwd'] } }), 'fail'],
    ['sms is not in the default set', facts({ user: { amr: ['pwd', 'sms'] } }), 'fail'],
    ['an empty amr fails', facts({ user: { amr: [] } }), 'fail'],
    ['amr values are case-sensitive (RFC 8176)', facts({ user: { amr: ['MFA'] } }), 'fail'],
    ['no amr is unknown', facts({ user: { amr: undefined } }), 'unknown'],
    ['a malformed amr is unknown', facts({ user: { amr: 'mfa' as unknown as string[] } }), 'unknown'],
    ['nobody signed in is unknown', facts({ user: null }), 'unknown'],
  ])('%s', (_, f, want) => expect(outcome({ mfa: true }, f)).toBe(want));

  it('the default set holds RFC 8176 multi-factor values and not weak ones', () => {
    expect(DEFAULT_MFA_METHODS).toEqual(expect.arrayContaining(['mfa', 'otp', 'hwk', 'fpt', 'face']));
    for (const weak of ['pwd', 'sms', 'tel', 'kba', 'swk']) expect(DEFAULT_MFA_METHODS).not.toContain(weak);
  });

  it('methods replaces the default set', () => {
    expect(outcome({ mfa: { methods: ['hwk'] } }, facts({ user: { amr: ['otp'] } }))).toBe('fail');
    expect(outcome({ mfa: { methods: ['hwk', 'sms'] } }, facts({ user: { amr: ['sms'] } }))).toBe('pass');
  });

  it('a new sign-in could satisfy it', () => {
    const c = criterion({ mfa: true });
    expect(c.test(facts({ user: { amr: ['pwd'] } }), true)).toBe('pass');
    expect(c.stepUp?.mfaMethods).toEqual(DEFAULT_MFA_METHODS);
    expect(c.explain(facts({ user: { amr: ['pwd'] } }), 'fail').code).toBe('mfa-required');
    expect(c.explain(facts({ user: { amr: undefined } }), 'unknown').code).toBe('mfa-unknown');
  });
});

describe('acr', () => {
  it.each<[string, Facts, string]>([
    ['a listed acr', facts({ user: { acr: 'urn:acme:gold' } }), 'pass'],
    ['another acr', facts({ user: { acr: 'urn:acme:silver' } }), 'fail'],
    ['no acr is unknown', facts({ user: { acr: undefined } }), 'unknown'],
    ['a malformed acr is unknown', facts({ user: { acr: 2 as unknown as string } }), 'unknown'],
  ])('%s', (_, f, want) => expect(outcome({ acr: ['urn:acme:gold', 'urn:acme:platinum'] }, f)).toBe(want));

  it('asks for the listed values on step-up', () => {
    expect(criterion({ acr: ['urn:acme:gold'] }).stepUp).toEqual({ acrValues: ['urn:acme:gold'] });
  });
});

describe('max_auth_age', () => {
  const s = Math.floor(NOW / 1000);
  it.each<[string, Facts, string]>([
    ['signed in 10 minutes ago', facts({ user: { authTime: s - 600 } }), 'pass'],
    ['signed in exactly an hour ago', facts({ user: { authTime: s - 3600 } }), 'pass'],
    ['signed in an hour and a second ago', facts({ user: { authTime: s - 3601 } }), 'fail'],
    ['signed in yesterday', facts({ user: { authTime: s - 86_400 } }), 'fail'],
    ['no auth_time is unknown', facts({ user: { authTime: undefined } }), 'unknown'],
    ['a non-numeric auth_time is unknown', facts({ user: { authTime: '1700000000' as unknown as number } }), 'unknown'],
    ['NaN is unknown', facts({ user: { authTime: NaN } }), 'unknown'],
    ['a sign-in in the future (beyond clock skew) is unknown', facts({ user: { authTime: s + 3600 } }), 'unknown'],
    ['a sign-in a minute ahead (clock skew) passes', facts({ user: { authTime: s + 60 } }), 'pass'],
    ['an invalid now is unknown', facts({ now: NaN }), 'unknown'],
  ])('%s', (_, f, want) => expect(outcome({ max_auth_age: '1h' }, f)).toBe(want));

  it('asks for max_age in seconds and explains the age', () => {
    const c = criterion({ max_auth_age: '1h' });
    expect(c.stepUp).toEqual({ maxAgeSeconds: 3600 });
    const r = c.explain(facts({ user: { authTime: s - 3 * 3600 } }), 'fail');
    expect(r.code).toBe('reauthentication-required');
    expect(r.message).toContain('3 hours');
  });
});
