// Pure: policy + facts -> decision with reasons. No clock, no I/O, no randomness.
//
// Semantics:
//   - a rule matches when every criterion in it passes;
//   - any matching deny rule refuses the request, whatever the allow rules say;
//   - otherwise the first matching allow rule allows it; with none, it is refused.
// Missing facts make a criterion "unknown": an allow rule with an unknown criterion does
// not match, and a deny rule with an unknown criterion (and no failing one) DOES match,
// unless it says `on_unknown: skip`. So a missing fact can only ever refuse, never allow.
//
// The allowed path builds nothing: it returns reasons compiled with the rule. Only a
// denial is explained in words.
import type { Facts } from './facts.ts';
import type { Outcome, Reason } from './reasons.ts';
import type { CompiledPolicy, CompiledRule, RoutePolicy } from './compile.ts';
import type { Criterion } from './criteria/types.ts';
import { userOf } from './criteria/types.ts';

/** A new sign-in that would let the user in: the request path sends prompt=login with these. */
export interface StepUp {
  readonly prompt: 'login';
  /** for acr_values */
  readonly acrValues?: readonly string[];
  /** for max_age */
  readonly maxAgeSeconds?: number;
  /** amr values that count; providers differ in how they are requested (often an acr) */
  readonly mfaMethods?: readonly string[];
}

export interface Decision {
  readonly allow: boolean;
  readonly policy: string;
  /** the allow rule that let the request in, or the deny rule that refused it */
  readonly rule?: string;
  readonly reasons: readonly Reason[];
  /** set on a denial that a new, stronger or fresher sign-in would turn into an allow */
  readonly stepUp?: StepUp;
  /** set on a denial when nobody is signed in: signing in may help */
  readonly loginRequired?: true;
  /** set with a policy-error reason: the exception's message, for the log only */
  readonly error?: string;
}

function ruleOutcome(rule: CompiledRule, facts: Facts, assumeFreshLogin: boolean): Outcome {
  let unknown = false;
  const criteria = rule.criteria;
  for (let i = 0; i < criteria.length; i++) {
    const o = criteria[i]!.test(facts, assumeFreshLogin);
    if (o === 'fail') return 'fail';
    if (o === 'unknown') unknown = true;
  }
  return unknown ? 'unknown' : 'pass';
}

function denies(rule: CompiledRule, outcome: Outcome): boolean {
  return outcome === 'pass' || (outcome === 'unknown' && !rule.skipUnknown);
}

type Verdict = { allow: true; rule: CompiledRule } | { allow: false; denyRule: CompiledRule | undefined };

function decide(policy: CompiledPolicy, facts: Facts, assumeFreshLogin: boolean): Verdict {
  for (const rule of policy.deny) if (denies(rule, ruleOutcome(rule, facts, assumeFreshLogin))) return { allow: false, denyRule: rule };
  for (const rule of policy.allow) if (ruleOutcome(rule, facts, assumeFreshLogin) === 'pass') return { allow: true, rule };
  return { allow: false, denyRule: undefined };
}

export function evaluate(policy: CompiledPolicy, facts: Facts): Decision {
  try {
    if (facts === null || typeof facts !== 'object') throw new TypeError('facts must be an object');
    const verdict = decide(policy, facts, false);
    if (verdict.allow) return { allow: true, policy: policy.name, rule: verdict.rule.name, reasons: verdict.rule.passReasons };
    return explainDenial(policy, facts, verdict.denyRule);
  } catch (err) {
    // Whatever went wrong, the answer is no: an exception must never become an allow.
    return {
      allow: false,
      policy: policy?.name ?? '(unknown)',
      reasons: [{ criterion: 'policy', outcome: 'unknown', code: 'policy-error', message: 'Access could not be checked, so it is refused. If this keeps happening, tell your administrator and quote the request id.' }],
      error: err instanceof Error ? err.message : String(err),
    };
  }
}

function criterionReason(c: Criterion, facts: Facts, outcome: Outcome, rule: string): Reason {
  const { code, message } = c.explain(facts, outcome);
  return { criterion: c.name, outcome, code, message, rule };
}

function explainDenial(policy: CompiledPolicy, facts: Facts, denyRule: CompiledRule | undefined): Decision {
  const reasons: Reason[] = [];
  if (denyRule) {
    reasons.push({ criterion: 'deny', outcome: 'pass', code: 'deny-rule-matched', message: 'A rule that refuses access applies to this request.', rule: denyRule.name });
    denyRule.criteria.forEach((c, i) => {
      const o = c.test(facts, false);
      if (o === 'pass') reasons.push(denyRule.denyReasons[i]!);
      else {
        const r = criterionReason(c, facts, o, denyRule.name);
        // Fail closed: say so, or the person would see only "unknown" and wonder why that refuses.
        reasons.push({ ...r, message: `${r.message} A rule that refuses access depends on this, so access is refused.` });
      }
    });
  } else {
    // Closest allow rule first: the one with the fewest criteria left to satisfy.
    const misses = policy.allow.map((rule) => ({
      rule,
      missed: rule.criteria.map((c) => [c, c.test(facts, false)] as const).filter(([, o]) => o !== 'pass'),
    }));
    misses.sort((a, b) => a.missed.length - b.missed.length);
    for (const { rule, missed } of misses) for (const [c, o] of missed) reasons.push(criterionReason(c, facts, o, rule.name));
  }
  const stepUp = userOf(facts) ? stepUpFor(policy, facts, denyRule) : undefined;
  return {
    allow: false,
    policy: policy.name,
    rule: denyRule?.name,
    reasons,
    ...(stepUp ? { stepUp } : {}),
    ...(userOf(facts) ? {} : { loginRequired: true as const }),
  };
}

/**
 * Would a new sign-in let the user in? Decide again assuming every criterion a sign-in
 * controls (mfa, acr, max_auth_age) passes; if that allows, ask for what those criteria need.
 * Deciding again (rather than inspecting failures) stays right under `not` and deny rules.
 */
function stepUpFor(policy: CompiledPolicy, facts: Facts, realDenyRule: CompiledRule | undefined): StepUp | undefined {
  const hypothetical = decide(policy, facts, true);
  if (!hypothetical.allow) return undefined;
  const needs: Criterion[] = [];
  const collect = (c: Criterion) => {
    if (c.inner) collect(c.inner);
    else if (c.stepUp && c.test(facts, false) !== 'pass') needs.push(c);
  };
  hypothetical.rule.criteria.forEach(collect);
  if (realDenyRule) for (const rule of policy.deny) if (denies(rule, ruleOutcome(rule, facts, false))) rule.criteria.forEach(collect);
  if (needs.length === 0) return undefined;
  let acrValues: readonly string[] | undefined;
  let maxAgeSeconds: number | undefined;
  let mfaMethods: readonly string[] | undefined;
  for (const c of needs) {
    acrValues ??= c.stepUp!.acrValues;
    mfaMethods ??= c.stepUp!.mfaMethods;
    const age = c.stepUp!.maxAgeSeconds;
    if (age !== undefined) maxAgeSeconds = Math.min(maxAgeSeconds ?? age, age);
  }
  return { prompt: 'login', ...(acrValues ? { acrValues } : {}), ...(maxAgeSeconds !== undefined ? { maxAgeSeconds } : {}), ...(mfaMethods ? { mfaMethods } : {}) };
}

export interface RouteDecision {
  readonly decision: Decision;
  /** the shadow policy's decision: log it ("would deny"), never enforce it */
  readonly shadow?: Decision;
}

export function evaluateRoute(route: RoutePolicy, facts: Facts): RouteDecision {
  const decision = evaluate(route.policy, facts);
  return route.shadow ? { decision, shadow: evaluate(route.shadow, facts) } : { decision };
}
