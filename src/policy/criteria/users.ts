// users: [sub, ...] — the identity provider's stable user id, compared exactly
// (case-sensitive: many providers use case-sensitive ids).
import type { Criterion } from './types.ts';
import { userOf } from './types.ts';
import { listWords } from '../reasons.ts';

export function compileUsers(users: readonly string[]): Criterion {
  const allowed = new Set(users);
  return {
    name: 'users',
    base: 'user',
    describe: `your user id is ${listWords(users)}`,
    passCode: 'user-ok',
    test(facts) {
      const user = userOf(facts);
      if (!user) return 'unknown';
      return allowed.has(user.sub) ? 'pass' : 'fail';
    },
    explain(facts, outcome) {
      if (outcome === 'unknown') return { code: 'user-unauthenticated', message: 'This app needs you to sign in.' };
      return { code: 'user-unauthorized', message: 'This app is open to specific people only, and your account is not one of them.' };
    },
  };
}
