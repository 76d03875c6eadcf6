// groups: [a, b] — the user is in at least one of them.
// not_groups: [a, b] — the user is in none of them.
// Group names are compared exactly: providers send ids or names whose case matters.
import type { Criterion } from './types.ts';
import { stringList, userOf, factList } from './types.ts';
import type { Facts } from '../facts.ts';
import { listWords } from '../reasons.ts';

function userGroups(facts: Facts): readonly string[] | undefined {
  const user = userOf(facts);
  return user ? stringList(user.groups) : undefined;
}

function inAny(groups: readonly string[], wanted: ReadonlySet<string>): string | undefined {
  for (const g of groups) if (wanted.has(g)) return g;
  return undefined;
}

const signIn = { code: 'user-unauthenticated', message: 'This app needs you to sign in.' } as const;

export function compileGroups(groups: readonly string[]): Criterion {
  const wanted = new Set(groups);
  return {
    name: 'groups',
    base: 'groups',
    describe: `you are in the group ${listWords(groups)}`,
    passCode: 'groups-ok',
    test(facts) {
      const mine = userGroups(facts);
      if (!mine) return 'unknown';
      return inAny(mine, wanted) !== undefined ? 'pass' : 'fail';
    },
    explain(facts) {
      const mine = userGroups(facts);
      if (!mine) return signIn;
      return { code: 'groups-unauthorized', message: `This app needs membership of the group ${listWords(groups)}; you are in: ${factList(mine)}.` };
    },
  };
}

export function compileNotGroups(groups: readonly string[]): Criterion {
  const excluded = new Set(groups);
  return {
    name: 'not_groups',
    base: 'not-groups',
    describe: `you are in none of the groups ${listWords(groups, 'and')}`,
    passCode: 'not-groups-ok',
    test(facts) {
      const mine = userGroups(facts);
      if (!mine) return 'unknown';
      return inAny(mine, excluded) === undefined ? 'pass' : 'fail';
    },
    explain(facts) {
      const mine = userGroups(facts);
      if (!mine) return signIn;
      return { code: 'groups-excluded', message: `Members of the group ${JSON.stringify(inAny(mine, excluded))} may not use this.` };
    },
  };
}
