// What every criterion compiles to. A criterion is built once when the config loads;
// per request only `test` runs (cheap, no messages built). `explain` turns a fail or
// unknown outcome into words, and runs only when a denial has to be explained.
import type { Facts, UserFacts } from '../facts.ts';
import type { Outcome, ReasonCode } from '../reasons.ts';

/** What a fresh sign-in would have to provide; the request path turns it into acr_values, max_age and prompt=login. */
export interface StepUpNeed {
  readonly mfaMethods?: readonly string[];
  readonly acrValues?: readonly string[];
  readonly maxAgeSeconds?: number;
}

export interface Criterion {
  /** the YAML key: "groups", "device", "not.country" */
  readonly name: string;
  /** code prefix for a matched deny rule: "<base>-denied" */
  readonly base: string;
  /** static, present tense, fits after "Allowed because" / "Refused because": "you are in one of the groups finance" */
  readonly describe: string;
  readonly passCode: ReasonCode;
  /** set on criteria a new sign-in could satisfy (mfa, acr, max_auth_age) */
  readonly stepUp?: StepUpNeed;
  /** for "not": the negated criterion */
  readonly inner?: Criterion;
  /** @param assumeFreshLogin treat step-up criteria as passing, to find out whether a new sign-in would help */
  test(facts: Facts, assumeFreshLogin: boolean): Outcome;
  explain(facts: Facts, outcome: Outcome): { code: ReasonCode; message: string };
}

export type Report = (path: readonly PropertyKey[], message: string) => void;

export interface CompileContext {
  /** path relative to the criterion's own key */
  readonly report: Report;
  /** named networks from the top-level `networks` block, already parsed */
  readonly networks: ReadonlyMap<string, readonly CidrRange[]>;
}

export type CidrRange = { readonly v4: true; readonly base: number; readonly mask: number } | { readonly v4: false; readonly words: readonly number[]; readonly bits: number };

/**
 * The signed-in user, or undefined when there is none or the facts are malformed.
 * Criteria never trust the shape of facts: a malformed fact is unknown, never a pass.
 */
export function userOf(facts: Facts): UserFacts | undefined {
  const u = facts.user;
  return u !== null && typeof u === 'object' && typeof u.sub === 'string' && u.sub !== '' ? u : undefined;
}

/**
 * Lower-case A-Z only. Unicode case folding would map look-alikes onto ASCII letters
 * (KELVIN SIGN U+212A lower-cases to "k"), letting "\u212Aiwi.com" pass for "kiwi.com".
 */
export function asciiLower(text: string): string {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 65 && c <= 90) return text.replace(/[A-Z]+/g, (s) => s.toLowerCase());
  }
  return text;
}

export function stringList(value: unknown): readonly string[] | undefined {
  if (!Array.isArray(value)) return undefined;
  for (const v of value) if (typeof v !== 'string') return undefined;
  return value as string[];
}

const SIMPLE_VALUE_REPORT_LIMIT = 5;

/** "finance, hr or it" for a list from a fact, cut and cleaned for messages. */
export function factList(values: readonly string[]): string {
  const shown = values.slice(0, SIMPLE_VALUE_REPORT_LIMIT).map((v) => JSON.stringify(v.length > 40 ? v.slice(0, 37) + '...' : v));
  if (values.length > SIMPLE_VALUE_REPORT_LIMIT) shown.push(`and ${values.length - SIMPLE_VALUE_REPORT_LIMIT} more`);
  return shown.length ? shown.join(', ') : 'none';
}
