// not: { criteria } — each criterion listed must NOT hold: `not: { groups: [contractors],
// country: [US] }` means "not in contractors, and not from the US" (each negated on its
// own, not the negation of both together). A negation cannot turn a missing fact into a
// pass: not(unknown) stays unknown.
import type { Criterion } from './types.ts';

export function negate(inner: Criterion): Criterion {
  return {
    name: `not.${inner.name}`,
    base: `not-${inner.base}`,
    describe: `it is not the case that ${inner.describe}`,
    passCode: 'exclusion-ok',
    inner,
    test(facts, assumeFreshLogin) {
      const o = inner.test(facts, assumeFreshLogin);
      return o === 'pass' ? 'fail' : o === 'fail' ? 'pass' : 'unknown';
    },
    explain(facts, outcome) {
      if (outcome === 'unknown') return inner.explain(facts, 'unknown');
      return { code: 'excluded', message: `This app refuses access when ${inner.describe}, and that is the case.` };
    },
  };
}
