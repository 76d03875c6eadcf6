// methods: [GET, HEAD] — the HTTP method. Methods are case-sensitive on the wire, so the
// request's method is compared exactly against the upper-cased list.
import type { Criterion, Report } from './types.ts';
import { listWords, quoteFact } from '../reasons.ts';

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export function compileMethods(methods: readonly string[], report: Report): Criterion {
  const upper = methods.map((m) => m.toUpperCase());
  methods.forEach((m, i) => {
    if (!TOKEN.test(m)) report([i], `"${m}" is not an HTTP method`);
  });
  const accepted = new Set(upper);
  return {
    name: 'methods',
    base: 'method',
    describe: `the request method is ${listWords(upper)}`,
    passCode: 'method-ok',
    test: (facts) => (typeof facts.request?.method !== 'string' ? 'unknown' : accepted.has(facts.request.method) ? 'pass' : 'fail'),
    explain: (facts) => ({ code: 'method-unauthorized', message: `Here this app accepts only ${listWords(upper)} requests, not ${quoteFact(facts.request?.method ?? 'none')}.` }),
  };
}
