// claims: [{ claim, equals | one_of | contains }] — every condition must hold.
//   equals: x      the claim is exactly x (same type: "1" is not 1, "true" is not true)
//   one_of: [...]  the claim is exactly one of the values
//   contains: x    an array claim has the element x; a string claim has x as one of its
//                  space-separated words (never a substring: "admin" is not in "superadmin")
// A claim that is absent is unknown; a claim of another type simply does not match.
import type { Criterion, Report } from './types.ts';
import { userOf } from './types.ts';
import type { Facts } from '../facts.ts';
import { quoteFact } from '../reasons.ts';

export type Scalar = string | number | boolean;

export interface ClaimCondition {
  readonly claim: string;
  readonly equals?: Scalar;
  readonly one_of?: readonly Scalar[];
  readonly contains?: Scalar;
}

type Check = (value: unknown) => boolean;

function compileCheck(c: ClaimCondition, report: Report, i: number): { check: Check; words: string } | undefined {
  const ops = (['equals', 'one_of', 'contains'] as const).filter((k) => c[k] !== undefined);
  if (ops.length !== 1) {
    report([i], `give exactly one of equals, one_of or contains for claim "${c.claim}" (found ${ops.length ? ops.join(' and ') : 'none'})`);
    return undefined;
  }
  if (c.equals !== undefined) {
    const want = c.equals;
    return { check: (v) => v === want, words: `${c.claim} is ${JSON.stringify(want)}` };
  }
  if (c.one_of !== undefined) {
    const want = new Set<unknown>(c.one_of);
    return { check: (v) => (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') && want.has(v), words: `${c.claim} is one of ${c.one_of.map((x) => JSON.stringify(x)).join(', ')}` };
  }
  const want = c.contains!;
  return {
    check: (v) => {
      if (Array.isArray(v)) return v.includes(want);
      if (typeof v === 'string' && typeof want === 'string') return v.split(/\s+/).includes(want);
      return false;
    },
    words: `${c.claim} contains ${JSON.stringify(want)}`,
  };
}

function claimValue(facts: Facts, name: string): { present: true; value: unknown } | { present: false } {
  const user = userOf(facts);
  const claims = user?.claims;
  // Own properties only: "constructor" or "__proto__" must not be found on Object.prototype.
  if (!claims || typeof claims !== 'object' || !Object.hasOwn(claims, name)) return { present: false };
  const value = (claims as Record<string, unknown>)[name];
  return value === undefined || value === null ? { present: false } : { present: true, value };
}

export function compileClaims(conditions: readonly ClaimCondition[], report: Report): Criterion {
  const compiled: { name: string; check: Check; words: string }[] = [];
  conditions.forEach((c, i) => {
    const r = compileCheck(c, report, i);
    if (r) compiled.push({ name: c.claim, ...r });
  });
  return {
    name: 'claims',
    base: 'claims',
    describe: `your account has ${compiled.map((c) => c.words).join(' and ')}`,
    passCode: 'claims-ok',
    test(facts) {
      if (!userOf(facts)) return 'unknown';
      let unknown = false;
      for (const c of compiled) {
        const v = claimValue(facts, c.name);
        if (!v.present) unknown = true;
        else if (!c.check(v.value)) return 'fail';
      }
      return unknown ? 'unknown' : 'pass';
    },
    explain(facts) {
      if (!userOf(facts)) return { code: 'user-unauthenticated', message: 'This app needs you to sign in.' };
      for (const c of compiled) {
        const v = claimValue(facts, c.name);
        if (v.present && !c.check(v.value)) {
          return { code: 'claims-unauthorized', message: `This app needs an account where ${c.words}; yours has ${c.name} = ${quoteFact(v.value)}.` };
        }
      }
      const missing = compiled.find((c) => !claimValue(facts, c.name).present);
      return { code: 'claim-missing', message: `This app needs an account where ${missing?.words ?? 'a claim is set'}; your identity provider did not send ${missing?.name ?? 'it'}.` };
    },
  };
}
