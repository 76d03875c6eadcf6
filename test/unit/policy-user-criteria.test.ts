// authenticated, users, groups, not_groups: who the user is.
import { describe, expect, it } from 'vitest';
import { criterion, facts, outcome } from './policy-fixtures.ts';
import type { Facts } from '../../src/policy/facts.ts';

describe('authenticated: true', () => {
  it.each<[string, Facts, string]>([
    ['a signed-in user passes', facts(), 'pass'],
    ['nobody signed in fails (a known fact, not unknown)', facts({ user: null }), 'fail'],
    ['a user with an empty sub counts as nobody', facts({ user: { sub: '' } }), 'fail'],
    ['a user whose sub is not a string counts as nobody', facts({ user: { sub: 42 as unknown as string } }), 'fail'],
  ])('%s', (_, f, want) => expect(outcome({ authenticated: true }, f)).toBe(want));

  it('explains the failure as user-unauthenticated', () => {
    expect(criterion({ authenticated: true }).explain(facts({ user: null }), 'fail').code).toBe('user-unauthenticated');
  });
});

describe('users: the sub, compared exactly', () => {
  it.each<[string, Facts, string]>([
    ['the listed sub passes', facts({ user: { sub: 'u-ann' } }), 'pass'],
    ['another sub fails', facts({ user: { sub: 'u-bob' } }), 'fail'],
    ['case matters', facts({ user: { sub: 'U-ANN' } }), 'fail'],
    ['a prefix does not match', facts({ user: { sub: 'u-an' } }), 'fail'],
    ['nobody signed in is unknown', facts({ user: null }), 'unknown'],
  ])('%s', (_, f, want) => expect(outcome({ users: ['u-ann', 'u-carl'] }, f)).toBe(want));
});

describe('groups: member of any', () => {
  it.each<[string, Facts, string]>([
    ['one listed group suffices', facts({ user: { groups: ['staff', 'finance'] } }), 'pass'],
    ['no listed group fails', facts({ user: { groups: ['staff'] } }), 'fail'],
    ['no groups at all fails', facts({ user: { groups: [] } }), 'fail'],
    ['group names are case-sensitive', facts({ user: { groups: ['Finance'] } }), 'fail'],
    ['malformed groups are unknown', facts({ user: { groups: 'finance' as unknown as string[] } }), 'unknown'],
    ['a non-string group makes the list unreadable', facts({ user: { groups: ['finance', 7 as unknown as string] } }), 'unknown'],
    ['nobody signed in is unknown', facts({ user: null }), 'unknown'],
  ])('%s', (_, f, want) => expect(outcome({ groups: ['finance', 'hr'] }, f)).toBe(want));

  it('names the groups the user is in when it fails', () => {
    const r = criterion({ groups: ['finance'] }).explain(facts({ user: { groups: ['staff'] } }), 'fail');
    expect(r).toEqual({ code: 'groups-unauthorized', message: expect.stringContaining('"staff"') });
  });
});

describe('not_groups: member of none', () => {
  it.each<[string, Facts, string]>([
    ['not in any excluded group passes', facts({ user: { groups: ['staff'] } }), 'pass'],
    ['no groups passes', facts({ user: { groups: [] } }), 'pass'],
    ['in one excluded group fails', facts({ user: { groups: ['staff', 'contractors'] } }), 'fail'],
    ['malformed groups are unknown, never a pass', facts({ user: { groups: null as unknown as string[] } }), 'unknown'],
    ['nobody signed in is unknown', facts({ user: null }), 'unknown'],
  ])('%s', (_, f, want) => expect(outcome({ not_groups: ['contractors', 'interns'] }, f)).toBe(want));

  it('explains which excluded group matched', () => {
    const r = criterion({ not_groups: ['contractors'] }).explain(facts({ user: { groups: ['contractors'] } }), 'fail');
    expect(r.code).toBe('groups-excluded');
    expect(r.message).toContain('contractors');
  });
});
