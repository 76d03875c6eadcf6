// claims: equals, one_of, contains; absent claims are unknown, type mismatches never match.
import { describe, expect, it } from 'vitest';
import { criterion, facts, outcome } from './policy-fixtures.ts';
import { compileStandalonePolicy } from '../../src/policy/compile.ts';

const withClaims = (claims: Record<string, unknown>) => facts({ user: { claims } });

describe('claims', () => {
  it.each<[string, Record<string, unknown>, Record<string, unknown>, string]>([
    ['equals: same string', { claim: 'department', equals: 'accounting' }, { department: 'accounting' }, 'pass'],
    ['equals: other string', { claim: 'department', equals: 'accounting' }, { department: 'sales' }, 'fail'],
    ['equals: case matters', { claim: 'department', equals: 'accounting' }, { department: 'Accounting' }, 'fail'],
    ['equals: number vs string never matches', { claim: 'level', equals: 3 }, { level: '3' }, 'fail'],
    ['equals: boolean vs string never matches', { claim: 'contractor', equals: true }, { contractor: 'true' }, 'fail'],
    ['equals: an array never equals a scalar', { claim: 'department', equals: 'accounting' }, { department: ['accounting'] }, 'fail'],
    ['equals: boolean', { claim: 'contractor', equals: false }, { contractor: false }, 'pass'],
    ['one_of: listed', { claim: 'level', one_of: [3, 4] }, { level: 3 }, 'pass'],
    ['one_of: not listed', { claim: 'level', one_of: [3, 4] }, { level: 5 }, 'fail'],
    ['one_of: type mismatch', { claim: 'level', one_of: [3, 4] }, { level: '3' }, 'fail'],
    ['one_of: object value', { claim: 'level', one_of: [3] }, { level: { v: 3 } }, 'fail'],
    ['contains: array element', { claim: 'roles', contains: 'approver' }, { roles: ['reader', 'approver'] }, 'pass'],
    ['contains: array without it', { claim: 'roles', contains: 'admin' }, { roles: ['reader'] }, 'fail'],
    ['contains: array element of another type', { claim: 'roles', contains: '1' }, { roles: [1] }, 'fail'],
    ['contains: a word of a string', { claim: 'scope', contains: 'write' }, { scope: 'read write' }, 'pass'],
    ['contains: never a substring', { claim: 'scope', contains: 'admin' }, { scope: 'superadmin read' }, 'fail'],
    ['contains: number in a string', { claim: 'scope', contains: 1 }, { scope: '1 2' }, 'fail'],
    ['absent claim is unknown', { claim: 'department', equals: 'x' }, {}, 'unknown'],
    ['null claim is unknown', { claim: 'department', equals: 'x' }, { department: null }, 'unknown'],
    ['inherited properties are not claims', { claim: 'constructor', contains: 'Object' }, {}, 'unknown'],
    ['__proto__ is not a claim', { claim: '__proto__', equals: 'x' }, {}, 'unknown'],
  ])('%s', (_, cond, claims, want) => expect(outcome({ claims: cond }, withClaims(claims))).toBe(want));

  it('a list of conditions must all hold; a failure beats an unknown', () => {
    const rule = { claims: [{ claim: 'department', equals: 'accounting' }, { claim: 'level', one_of: [3] }] };
    expect(outcome(rule, withClaims({ department: 'accounting', level: 3 }))).toBe('pass');
    expect(outcome(rule, withClaims({ department: 'accounting', level: 2 }))).toBe('fail');
    expect(outcome(rule, withClaims({ level: 3 }))).toBe('unknown');
    expect(outcome(rule, withClaims({ level: 2 }))).toBe('fail');
  });

  it('nobody signed in is unknown', () => {
    expect(outcome({ claims: { claim: 'department', equals: 'x' } }, facts({ user: null }))).toBe('unknown');
  });

  it('explains a mismatch with the value seen, and a missing claim by name', () => {
    const c = criterion({ claims: { claim: 'department', equals: 'accounting' } });
    expect(c.explain(withClaims({ department: 'sales' }), 'fail')).toEqual({ code: 'claims-unauthorized', message: expect.stringContaining('sales') });
    expect(c.explain(withClaims({}), 'unknown')).toEqual({ code: 'claim-missing', message: expect.stringContaining('department') });
  });

  it('requires exactly one operator per condition', () => {
    expect(() => compileStandalonePolicy({ allow: [{ claims: { claim: 'a' } }] })).toThrow(/exactly one of equals, one_of or contains/);
    expect(() => compileStandalonePolicy({ allow: [{ claims: [{ claim: 'a', equals: 1, contains: 1 }] }] })).toThrow(/allow\[0\]\.claims\[0\]: give exactly one/);
  });
});
