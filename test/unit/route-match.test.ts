import { describe, expect, it } from 'vitest';
import { buildRouteTable, matchRoute, pathHasPrefix } from '../../src/request/route-match.ts';

interface R {
  name: string;
  host: string;
  pathPrefix: string;
}

const routes: R[] = [
  { name: 'any-corp', host: '*.corp.test', pathPrefix: '/' },
  { name: 'any-eu-corp', host: '*.eu.corp.test', pathPrefix: '/' },
  { name: 'any-corp-api', host: '*.corp.test', pathPrefix: '/api' },
  { name: 'wiki', host: 'wiki.corp.test', pathPrefix: '/' },
  { name: 'wiki-api', host: 'wiki.corp.test', pathPrefix: '/api' },
  { name: 'wiki-api-v2', host: 'wiki.corp.test', pathPrefix: '/api/v2' },
  { name: 'only-admin', host: 'admin.test', pathPrefix: '/admin' },
];
const table = buildRouteTable(routes);
const match = (host: string, path: string) => matchRoute(table, host, path)?.name;

describe('the most specific route wins', () => {
  it('an exact host beats a wildcard that also matches', () => {
    expect(match('wiki.corp.test', '/')).toBe('wiki');
  });

  it('a longer wildcard suffix beats a shorter one', () => {
    expect(match('hr.eu.corp.test', '/')).toBe('any-eu-corp');
    expect(match('hr.us.corp.test', '/')).toBe('any-corp');
  });

  it('a wildcard matches names at any depth below its suffix but not the suffix itself', () => {
    expect(match('a.b.c.corp.test', '/')).toBe('any-corp');
    expect(match('corp.test', '/')).toBeUndefined();
  });

  it('within a host, the longest path prefix wins, whatever the order in the file', () => {
    expect(match('wiki.corp.test', '/api/v2/pages')).toBe('wiki-api-v2');
    expect(match('wiki.corp.test', '/api/v1/pages')).toBe('wiki-api');
    expect(match('wiki.corp.test', '/apiary')).toBe('wiki');
    expect(match('x.corp.test', '/api/x')).toBe('any-corp-api');
  });

  it('an exact host whose prefixes do not match falls back to a matching wildcard', () => {
    const t = buildRouteTable<R>([
      { name: 'star', host: '*.corp.test', pathPrefix: '/' },
      { name: 'exact-api', host: 'app.corp.test', pathPrefix: '/api' },
    ]);
    expect(matchRoute(t, 'app.corp.test', '/api/x')?.name).toBe('exact-api');
    expect(matchRoute(t, 'app.corp.test', '/home')?.name).toBe('star');
  });

  it('an unknown host matches nothing', () => {
    expect(match('elsewhere.test', '/')).toBeUndefined();
    expect(match('admin.test', '/')).toBeUndefined();
  });
});

describe('a path prefix matches on segment boundaries', () => {
  it.each([
    ['/api', '/api', true],
    ['/api/x', '/api', true],
    ['/api;jsessionid=1', '/api', true],
    ['/apix', '/api', false],
    ['/ap', '/api', false],
    ['/anything', '/', true],
  ])('%s under %s: %s', (path, prefix, expected) => {
    expect(pathHasPrefix(path, prefix)).toBe(expected);
  });
});
