// emails: [address, ...] — the user's verified email address, compared exactly
// and case-insensitively (ASCII only). An unverified address is a claim anyone can
// type into a self-service sign-up form, so it counts as unknown, never as a match.
import type { Criterion } from './types.ts';
import { asciiLower, userOf } from './types.ts';
import { listWords, quoteFact } from '../reasons.ts';
import type { Facts } from '../facts.ts';
import type { ReasonCode } from '../reasons.ts';

/** The verified address, or why there is none. */
export function verifiedEmail(facts: Facts): { email: string } | { problem: ReasonCode; message: string } {
  const user = userOf(facts);
  if (!user) return { problem: 'user-unauthenticated', message: 'This app needs you to sign in.' };
  if (typeof user.email !== 'string' || user.email === '') {
    return { problem: 'email-missing', message: 'This app decides by email address, and your identity provider sent none.' };
  }
  if (user.emailVerified !== true) {
    return { problem: 'email-unverified', message: `This app decides by email address, and your identity provider has not verified ${quoteFact(user.email)}.` };
  }
  return { email: user.email };
}

export function compileEmails(emails: readonly string[]): Criterion {
  const allowed = new Set(emails.map(asciiLower));
  return {
    name: 'emails',
    base: 'email',
    describe: `your verified email address is ${listWords(emails)}`,
    passCode: 'email-ok',
    test(facts) {
      const v = verifiedEmail(facts);
      if (!('email' in v)) return 'unknown';
      return allowed.has(asciiLower(v.email)) ? 'pass' : 'fail';
    },
    explain(facts) {
      const v = verifiedEmail(facts);
      if (!('email' in v)) return { code: v.problem, message: v.message };
      return { code: 'email-unauthorized', message: `This app is open to specific people only, and ${quoteFact(v.email)} is not one of them.` };
    },
  };
}
