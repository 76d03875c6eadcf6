// country: [DE, FR] — the request's country (ISO 3166-1 alpha-2, from a geo lookup the
// request path does). The fact is often missing (no lookup, private address, anonymizer);
// a missing or unreadable country is unknown: it never satisfies an allow rule, and a
// deny rule that depends on it refuses the request unless the rule says `on_unknown: skip`.
import type { Criterion, Report } from './types.ts';
import { listWords, quoteFact } from '../reasons.ts';

const ISO_ALPHA2 = /^[A-Z]{2}$/;

/** "de" -> "DE"; undefined for anything that is not two ASCII letters or is "XX" (the usual "unknown" placeholder). */
export function countryCode(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length !== 2) return undefined;
  const upper = value.replace(/[a-z]/g, (c) => c.toUpperCase());
  return ISO_ALPHA2.test(upper) && upper !== 'XX' ? upper : undefined;
}

export function compileCountry(codes: readonly string[], report: Report): Criterion {
  const accepted = new Set<string>();
  codes.forEach((c, i) => {
    const code = countryCode(c);
    if (code) accepted.add(code);
    else report([i], `"${c}" is not an ISO 3166-1 alpha-2 country code such as DE or US`);
  });
  const shown = [...accepted];
  return {
    name: 'country',
    base: 'country',
    describe: `you connect from ${listWords(shown)}`,
    passCode: 'country-ok',
    test(facts) {
      const code = countryCode(facts.request?.country);
      if (code === undefined) return 'unknown';
      return accepted.has(code) ? 'pass' : 'fail';
    },
    explain(facts) {
      const code = countryCode(facts.request?.country);
      if (code === undefined) return { code: 'country-unknown', message: 'This app checks which country you connect from, and yours could not be determined.' };
      return { code: 'country-unauthorized', message: `This app is available from ${listWords(shown)}; you connect from ${quoteFact(code)}.` };
    },
  };
}
