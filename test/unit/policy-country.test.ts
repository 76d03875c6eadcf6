// country: ISO 3166-1 alpha-2 from a fact that may be missing.
import { describe, expect, it } from 'vitest';
import { criterion, facts, outcome } from './policy-fixtures.ts';
import { compileStandalonePolicy } from '../../src/policy/compile.ts';

const from = (country: string | undefined) => facts({ request: { country } });

describe('country', () => {
  it.each<[string, string | undefined, string]>([
    ['a listed country', 'DE', 'pass'],
    ['lower case from the geo lookup', 'fr', 'pass'],
    ['another country', 'US', 'fail'],
    ['missing is unknown', undefined, 'unknown'],
    ['empty is unknown', '', 'unknown'],
    ['the "XX" placeholder is unknown', 'XX', 'unknown'],
    ['a Tor marker "T1" is unknown', 'T1', 'unknown'],
    ['a three-letter code is unknown', 'DEU', 'unknown'],
    ['a non-ASCII look-alike is unknown', '\u0414E', 'unknown'],
  ])('%s', (_, country, want) => expect(outcome({ country: ['DE', 'fr'] }, from(country))).toBe(want));

  it('rejects codes that are not two letters', () => {
    expect(() => compileStandalonePolicy({ allow: [{ country: ['Germany'] }] })).toThrow(/country\[0\]: "Germany" is not an ISO 3166-1 alpha-2/);
  });

  it('explains an unknown country and a refused one', () => {
    const c = criterion({ country: ['DE'] });
    expect(c.explain(from(undefined), 'unknown').code).toBe('country-unknown');
    expect(c.explain(from('US'), 'fail')).toEqual({ code: 'country-unauthorized', message: expect.stringContaining('US') });
  });
});
