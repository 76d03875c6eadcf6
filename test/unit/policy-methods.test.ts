// methods: the HTTP method, case-sensitive on the wire.
import { describe, expect, it } from 'vitest';
import { facts, outcome } from './policy-fixtures.ts';
import { compileStandalonePolicy } from '../../src/policy/compile.ts';

describe('methods', () => {
  it.each<[string, unknown, string]>([
    ['a listed method', 'GET', 'pass'],
    ['a method listed in lower case in the config', 'HEAD', 'pass'],
    ['another method', 'POST', 'fail'],
    ['a lower-case method on the wire is another method', 'get', 'fail'],
    ['a missing method is unknown', undefined, 'unknown'],
  ])('%s', (_, method, want) => expect(outcome({ methods: ['GET', 'head'] }, facts({ request: { method: method as string } }))).toBe(want));

  it('rejects what is not a method token', () => {
    expect(() => compileStandalonePolicy({ allow: [{ methods: ['GET POST'] }] })).toThrow(/methods\[0\]/);
  });
});
