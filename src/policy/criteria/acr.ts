// acr: [values] — the sign-in's authentication context class (the ID token's acr claim)
// is exactly one of the values. A new sign-in with acr_values can provide it.
import type { Criterion } from './types.ts';
import { userOf } from './types.ts';
import { listWords, quoteFact } from '../reasons.ts';

export function compileAcr(values: readonly string[]): Criterion {
  const accepted = new Set(values);
  return {
    name: 'acr',
    base: 'acr',
    describe: `your sign-in has the assurance level ${listWords(values)}`,
    passCode: 'acr-ok',
    stepUp: { acrValues: Object.freeze([...values]) },
    test(facts, assumeFreshLogin) {
      if (assumeFreshLogin) return 'pass';
      const acr = userOf(facts)?.acr;
      if (typeof acr !== 'string') return 'unknown';
      return accepted.has(acr) ? 'pass' : 'fail';
    },
    explain(facts) {
      const user = userOf(facts);
      if (!user) return { code: 'user-unauthenticated', message: 'This app needs you to sign in.' };
      if (typeof user.acr !== 'string') return { code: 'acr-unknown', message: `This app needs a sign-in with the assurance level ${listWords(values)}, and your identity provider did not report one. Sign in again.` };
      return { code: 'acr-required', message: `This app needs a sign-in with the assurance level ${listWords(values)}; yours has ${quoteFact(user.acr)}. Sign in again.` };
    },
  };
}
