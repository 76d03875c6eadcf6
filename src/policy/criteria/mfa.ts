// mfa: true | { methods: [...] } — the sign-in used a multi-factor method, read from the
// ID token's amr claim (RFC 8176). The default methods count as a second factor or as
// phishing-resistant hardware; sms and tel are left out on purpose (SIM swapping), and
// pwd, kba and swk alone are one factor. Admins who accept more list them.
import type { Criterion } from './types.ts';
import { userOf, stringList, factList } from './types.ts';

export const DEFAULT_MFA_METHODS: readonly string[] = Object.freeze(['mfa', 'otp', 'hwk', 'sc', 'fpt', 'face', 'iris', 'retina', 'vbm']);

export function compileMfa(methods: readonly string[] = DEFAULT_MFA_METHODS): Criterion {
  const accepted = new Set(methods);
  const frozen = Object.freeze([...methods]);
  return {
    name: 'mfa',
    base: 'mfa',
    describe: 'you signed in with multi-factor authentication',
    passCode: 'mfa-ok',
    stepUp: { mfaMethods: frozen },
    test(facts, assumeFreshLogin) {
      if (assumeFreshLogin) return 'pass';
      const user = userOf(facts);
      const amr = user ? stringList(user.amr) : undefined;
      if (!amr) return 'unknown';
      for (const m of amr) if (accepted.has(m)) return 'pass';
      return 'fail';
    },
    explain(facts) {
      const user = userOf(facts);
      if (!user) return { code: 'user-unauthenticated', message: 'This app needs you to sign in.' };
      const amr = stringList(user.amr);
      if (!amr) return { code: 'mfa-unknown', message: 'This app needs multi-factor sign-in, and your identity provider did not say how you signed in. Sign in again with a second factor.' };
      return { code: 'mfa-required', message: `This app needs multi-factor sign-in; you signed in with: ${factList(amr)}. Sign in again with a second factor.` };
    },
  };
}
