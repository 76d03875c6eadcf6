// authenticated: true — someone is signed in. Any user will do; the other user
// criteria narrow it down.
import type { Criterion } from './types.ts';
import { userOf } from './types.ts';

export function compileAuthenticated(): Criterion {
  return {
    name: 'authenticated',
    base: 'user',
    describe: 'you are signed in',
    passCode: 'user-authenticated',
    // A missing user is a known fact here (nobody signed in), so it fails rather than being unknown.
    test: (facts) => (userOf(facts) ? 'pass' : 'fail'),
    explain: () => ({ code: 'user-unauthenticated', message: 'This app needs you to sign in.' }),
  };
}
