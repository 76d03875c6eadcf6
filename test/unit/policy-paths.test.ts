// paths: segment-boundary prefixes, like route matching.
import { describe, expect, it } from 'vitest';
import { facts, outcome } from './policy-fixtures.ts';
import { compileStandalonePolicy } from '../../src/policy/compile.ts';

describe('paths', () => {
  it.each<[string, string, string]>([
    ['the prefix itself', '/admin', 'pass'],
    ['below the prefix', '/admin/users', 'pass'],
    ['a path parameter after it', '/admin;jsessionid=1', 'pass'],
    ['a trailing slash in the config is ignored', '/api/v2/x', 'pass'],
    ['a longer segment is not below it', '/administrator', 'fail'],
    ['another path', '/public', 'fail'],
    ['case matters', '/Admin', 'fail'],
    ['a path that is not absolute is unknown', 'admin', 'unknown'],
  ])('%s (%s)', (_, path, want) => expect(outcome({ paths: ['/admin', '/api/v2/'] }, facts({ request: { path } }))).toBe(want));

  it('"/" covers every path', () => {
    expect(outcome({ paths: ['/'] }, facts({ request: { path: '/anything' } }))).toBe('pass');
  });

  it.each(['admin', '/a%2fb', '/a/../b', '/a//b', '/a?x=1'])('rejects the prefix %s', (p) => {
    expect(() => compileStandalonePolicy({ allow: [{ paths: [p] }] })).toThrow(/paths\[0\]: .* is not a plain path prefix/);
  });
});
