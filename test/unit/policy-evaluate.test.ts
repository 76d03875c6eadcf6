// Combining rules: allow when an allow rule matches and no deny rule does; reasons,
// step-up hints, shadow policies and exceptions.
import { describe, expect, it } from 'vitest';
import { facts, NOW } from './policy-fixtures.ts';
import { compileStandalonePolicy } from '../../src/policy/compile.ts';
import { evaluate, evaluateRoute } from '../../src/policy/evaluate.ts';
import type { CompiledPolicy } from '../../src/policy/compile.ts';
import type { Criterion } from '../../src/policy/criteria/types.ts';

const finance = compileStandalonePolicy(
  {
    allow: [
      { name: 'finance', groups: ['finance'], mfa: true, network: ['corp'] },
      { name: 'auditors', groups: ['auditors'], max_auth_age: '15m', acr: ['urn:acme:gold'] },
    ],
    deny: [{ name: 'embargo', country: ['KP', 'IR'] }],
  },
  { name: 'finance-staff', networks: { corp: ['10.0.0.0/8'] } },
);

describe('evaluate: combining rules', () => {
  it('allows by the first matching allow rule, with that rule\'s reasons', () => {
    const d = evaluate(finance, facts());
    expect(d).toMatchObject({ allow: true, policy: 'finance-staff', rule: 'finance' });
    expect(d.reasons.map((r) => r.code)).toEqual(['groups-ok', 'mfa-ok', 'network-ok']);
    expect(d.reasons.every((r) => r.outcome === 'pass' && r.rule === 'finance')).toBe(true);
  });

  it('the allowed path reuses the reasons compiled with the rule (no per-request building)', () => {
    expect(evaluate(finance, facts()).reasons).toBe(evaluate(finance, facts({ now: NOW + 1 })).reasons);
  });

  it('a matching deny rule wins over a matching allow rule', () => {
    const d = evaluate(finance, facts({ request: { country: 'KP' } }));
    expect(d).toMatchObject({ allow: false, rule: 'embargo' });
    expect(d.reasons.map((r) => r.code)).toEqual(['deny-rule-matched', 'country-denied']);
  });

  it('a deny rule whose fact is unknown refuses (fail closed) and says why', () => {
    const d = evaluate(finance, facts({ request: { country: undefined } }));
    expect(d.allow).toBe(false);
    expect(d.reasons[1]).toMatchObject({ code: 'country-unknown', outcome: 'unknown' });
    expect(d.reasons[1]!.message).toMatch(/refuses access depends on this/);
  });

  it('on_unknown: skip lets a deny rule with an unknown fact pass over the request', () => {
    const p = compileStandalonePolicy({ allow: [{ authenticated: true }], deny: [{ country: ['KP'], on_unknown: 'skip' }] });
    expect(evaluate(p, facts({ request: { country: undefined } })).allow).toBe(true);
    expect(evaluate(p, facts({ request: { country: 'KP' } })).allow).toBe(false);
  });

  it('a deny rule with one failing criterion does not match, even if another is unknown', () => {
    const p = compileStandalonePolicy({ allow: [{ authenticated: true }], deny: [{ paths: ['/admin'], country: ['KP'] }] });
    expect(evaluate(p, facts({ request: { path: '/home', country: undefined } })).allow).toBe(true);
    expect(evaluate(p, facts({ request: { path: '/admin', country: undefined } })).allow).toBe(false);
  });

  it('with no matching allow rule, lists what each rule misses, closest rule first', () => {
    const d = evaluate(finance, facts({ user: { groups: ['auditors'], amr: ['pwd'], acr: 'urn:acme:gold', authTime: NOW / 1000 - 7200 } }));
    expect(d.allow).toBe(false);
    expect(d.rule).toBeUndefined();
    expect(d.reasons.map((r) => `${r.rule}:${r.code}`)).toEqual(['auditors:reauthentication-required', 'finance:groups-unauthorized', 'finance:mfa-required']);
  });

  it('an allow rule with an unknown criterion does not match', () => {
    expect(evaluate(finance, facts({ request: { clientIp: 'garbage' } })).allow).toBe(false);
  });
});

describe('evaluate: step-up hints', () => {
  it('offers a new sign-in when only mfa is missing', () => {
    const d = evaluate(finance, facts({ user: { amr: ['pwd'] } }));
    expect(d.allow).toBe(false);
    expect(d.stepUp).toMatchObject({ prompt: 'login', mfaMethods: expect.arrayContaining(['mfa']) });
  });

  it('asks for acr_values and max_age when those are what is missing', () => {
    const d = evaluate(finance, facts({ user: { groups: ['auditors'], acr: 'urn:acme:silver', authTime: NOW / 1000 - 7200 } }));
    expect(d.stepUp).toEqual({ prompt: 'login', acrValues: ['urn:acme:gold'], maxAgeSeconds: 900 });
  });

  it('offers none when something a sign-in cannot change also fails', () => {
    expect(evaluate(finance, facts({ user: { amr: ['pwd'] }, request: { clientIp: '8.8.8.8' } })).stepUp).toBeUndefined();
    expect(evaluate(finance, facts({ user: { amr: ['pwd'] }, request: { country: 'IR' } })).stepUp).toBeUndefined();
  });

  it('sees through a deny rule on a weak sign-in', () => {
    const p = compileStandalonePolicy({ allow: [{ authenticated: true }], deny: [{ paths: ['/admin'], not: { mfa: true } }] });
    const d = evaluate(p, facts({ request: { path: '/admin' }, user: { amr: ['pwd'] } }));
    expect(d.allow).toBe(false);
    expect(d.stepUp?.mfaMethods).toBeDefined();
    expect(evaluate(p, facts({ request: { path: '/admin' }, user: { amr: ['pwd', 'hwk'] } })).allow).toBe(true);
  });

  it('asks nobody to step up when nobody is signed in; says sign-in is needed instead', () => {
    const d = evaluate(finance, facts({ user: null }));
    expect(d.stepUp).toBeUndefined();
    expect(d.loginRequired).toBe(true);
  });
});

describe('evaluate: failures never allow', () => {
  const throwing: Criterion = {
    name: 'boom', base: 'boom', describe: 'boom', passCode: 'user-ok',
    test: () => { throw new Error('criterion exploded'); },
    explain: () => ({ code: 'user-ok', message: '' }),
  };
  const withBomb = (effect: 'allow' | 'deny'): CompiledPolicy => {
    const base = compileStandalonePolicy({ allow: [{ authenticated: true }], deny: [{ paths: ['/x'] }] });
    const rules = base[effect].map((r) => ({ ...r, criteria: [throwing, ...r.criteria] }));
    return { ...base, [effect]: rules };
  };

  it.each(['allow', 'deny'] as const)('an exception in an %s rule is a deny with policy-error', (effect) => {
    const d = evaluate(withBomb(effect), facts());
    expect(d).toMatchObject({ allow: false, error: 'criterion exploded' });
    expect(d.reasons).toEqual([expect.objectContaining({ code: 'policy-error', outcome: 'unknown' })]);
  });

  it.each([null, undefined, 42, 'facts'])('facts that are not an object (%s) are a policy-error deny', (bad) => {
    expect(evaluate(finance, bad as never)).toMatchObject({ allow: false, reasons: [expect.objectContaining({ code: 'policy-error' })] });
  });
});

describe('evaluateRoute: shadow policies', () => {
  const strict = compileStandalonePolicy({ allow: [{ groups: ['admins'] }] }, { name: 'strict' });
  const open = compileStandalonePolicy({ allow: [{ authenticated: true }] }, { name: 'open' });

  it('enforces the policy and reports what the shadow policy would decide', () => {
    const r = evaluateRoute({ policy: open, shadow: strict }, facts());
    expect(r.decision.allow).toBe(true);
    expect(r.shadow).toMatchObject({ allow: false, policy: 'strict' });
  });

  it('has no shadow decision without a shadow policy', () => {
    expect(evaluateRoute({ policy: open }, facts()).shadow).toBeUndefined();
  });
});
