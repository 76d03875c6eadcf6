// paths: [/admin, /api/v2] — the request path is below one of the prefixes, on segment
// boundaries exactly as routes match (/admin matches /admin, /admin/x and /admin;jsessionid=1,
// never /administrator). Matching is case-sensitive, like the path routing saw; an upstream
// that ignores case (IIS) must be protected with an allow list, not a deny list.
import type { Criterion, Report } from './types.ts';
import { pathHasPrefix } from '../../request/route-match.ts';
import { listWords, quoteFact } from '../reasons.ts';

export function compilePaths(prefixes: readonly string[], report: Report): Criterion {
  const normalized: string[] = [];
  prefixes.forEach((p, i) => {
    if (!p.startsWith('/') || /%|\/\.{1,2}(\/|$)|\/\/|[?#\\]/.test(p)) {
      report([i], `"${p}" is not a plain path prefix; write it as routes see it, such as /admin (starting with "/", no query, no encoding, no dot segments)`);
      return;
    }
    normalized.push(p.length > 1 ? p.replace(/\/+$/, '') : '/');
  });
  return {
    name: 'paths',
    base: 'path',
    describe: `the path is under ${listWords(normalized)}`,
    passCode: 'path-ok',
    test(facts) {
      const path = facts.request?.path;
      if (typeof path !== 'string' || path[0] !== '/') return 'unknown';
      for (const p of normalized) if (pathHasPrefix(path, p)) return 'pass';
      return 'fail';
    },
    explain: (facts) => ({ code: 'path-unauthorized', message: `This rule covers only ${listWords(normalized)}, not ${quoteFact(facts.request?.path ?? 'none')}.` }),
  };
}
