// not: each listed criterion must not hold; unknown stays unknown.
import { describe, expect, it } from 'vitest';
import { facts } from './policy-fixtures.ts';
import { compileStandalonePolicy } from '../../src/policy/compile.ts';
import { evaluate } from '../../src/policy/evaluate.ts';
import type { Facts } from '../../src/policy/facts.ts';

const rule = { not: { groups: ['contractors'], country: ['US'] } };

describe('not', () => {
  const [notGroups, notCountry] = compileStandalonePolicy({ allow: [rule] }).allow[0]!.criteria;
  it.each<[string, Facts, string, string]>([
    ['neither holds: both negations pass', facts({ user: { groups: ['staff'] }, request: { country: 'DE' } }), 'pass', 'pass'],
    ['the group holds', facts({ user: { groups: ['contractors'] }, request: { country: 'DE' } }), 'fail', 'pass'],
    ['the country holds', facts({ user: { groups: ['staff'] }, request: { country: 'US' } }), 'pass', 'fail'],
    ['a missing fact stays unknown', facts({ user: null, request: { country: undefined } }), 'unknown', 'unknown'],
  ])('%s', (_, f, groupsWant, countryWant) => {
    expect(notGroups!.test(f, false)).toBe(groupsWant);
    expect(notCountry!.test(f, false)).toBe(countryWant);
  });

  it('names negated criteria "not.<key>" and explains an exclusion', () => {
    expect(notGroups!.name).toBe('not.groups');
    const r = notGroups!.explain(facts({ user: { groups: ['contractors'] } }), 'fail');
    expect(r.code).toBe('excluded');
    expect(r.message).toContain('contractors');
  });

  it('an allow rule with a negation does not match when the fact is missing', () => {
    const p = compileStandalonePolicy({ allow: [{ authenticated: true, not: { country: ['US'] } }] });
    expect(evaluate(p, facts({ request: { country: undefined } })).allow).toBe(false);
    expect(evaluate(p, facts({ request: { country: 'DE' } })).allow).toBe(true);
  });

  it('rejects an empty not and nested nots', () => {
    expect(() => compileStandalonePolicy({ allow: [{ authenticated: true, not: {} }] })).toThrow(/not: needs at least one criterion/);
    expect(() => compileStandalonePolicy({ allow: [{ not: { not: { groups: ['a'] } } }] })).toThrow(/unknown key "not"/);
  });
});
