// max_auth_age: 1h — the user signed in (entered credentials at the identity provider)
// no longer ago than this, from the ID token's auth_time. A session refresh does not
// renew auth_time; only a new sign-in (max_age / prompt=login) does.
import type { Criterion } from './types.ts';
import { userOf } from './types.ts';

export function formatAge(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s % 86_400 === 0) return `${s / 86_400} day${s === 86_400 ? '' : 's'}`;
  if (s % 3600 === 0) return `${s / 3600} hour${s === 3600 ? '' : 's'}`;
  if (s % 60 === 0) return `${s / 60} minute${s === 60 ? '' : 's'}`;
  return `${s} second${s === 1 ? '' : 's'}`;
}

/** How far auth_time may lie ahead of now (clock skew between the provider and us). */
const FUTURE_SKEW_MS = 5 * 60_000;

export function compileMaxAuthAge(maxAgeMs: number): Criterion {
  const words = formatAge(maxAgeMs);
  return {
    name: 'max_auth_age',
    base: 'auth-age',
    describe: `you signed in within the last ${words}`,
    passCode: 'auth-age-ok',
    stepUp: { maxAgeSeconds: Math.floor(maxAgeMs / 1000) },
    test(facts, assumeFreshLogin) {
      if (assumeFreshLogin) return 'pass';
      const t = userOf(facts)?.authTime;
      if (typeof t !== 'number' || !Number.isFinite(t) || typeof facts.now !== 'number' || !Number.isFinite(facts.now)) return 'unknown';
      const ageMs = facts.now - t * 1000;
      // A sign-in from the future is a broken token or clock, not a fresh sign-in.
      if (ageMs < -FUTURE_SKEW_MS) return 'unknown';
      return ageMs <= maxAgeMs ? 'pass' : 'fail';
    },
    explain(facts) {
      const user = userOf(facts);
      if (!user) return { code: 'user-unauthenticated', message: 'This app needs you to sign in.' };
      if (typeof user.authTime !== 'number' || !Number.isFinite(user.authTime) || facts.now - user.authTime * 1000 < -FUTURE_SKEW_MS) {
        return { code: 'auth-time-unknown', message: `This app needs a sign-in within the last ${words}, and your identity provider did not say when you signed in. Sign in again.` };
      }
      // whole minutes are precise enough for a person
      const ageMs = Math.max(60_000, Math.floor((facts.now - user.authTime * 1000) / 60_000) * 60_000);
      return { code: 'reauthentication-required', message: `This app needs a sign-in within the last ${words}; you signed in about ${formatAge(ageMs)} ago. Sign in again.` };
    },
  };
}
