import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { decodeSessionData, encodeSessionData } from '../../src/session/codec.ts';

const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbm4iLCJncm91cHMiOlsiYSIsImIiXX0.c2lnbmF0dXJlLWJ5dGVz';

describe('session data codec', () => {
  it('round-trips any JSON value exactly', () => {
    fc.assert(fc.property(fc.jsonValue(), (value) => {
      const normalized = JSON.parse(JSON.stringify(value)) as unknown;
      expect(decodeSessionData(encodeSessionData(normalized))).toEqual(normalized);
    }));
  });

  it('round-trips JWTs, near-JWTs and strings that look like its own escapes', () => {
    const data = {
      sub: 'ann',
      tokens: { id_token: jwt, access_token: jwt, other: `${jwt}=`, noncanonical: jwt.replace(/s$/, 't'), three: 'eyJ.a.b' },
      tricky: ['\u00000', '\u0000\u00001', '\u0000', 'plain'],
    };
    expect(decodeSessionData(encodeSessionData(data))).toEqual(data);
  });

  it('is smaller than the JSON it encodes for a token-heavy session', () => {
    const data = { sub: 'ann', claims: { sub: 'ann', groups: ['a', 'b'] }, tokens: { id_token: jwt, access_token: jwt } };
    expect(encodeSessionData(data).length).toBeLessThan(JSON.stringify(data).length);
  });

  it('refuses bytes it did not write', () => {
    expect(decodeSessionData(Buffer.from([2, 1, 2, 3]))).toBeUndefined();
    expect(decodeSessionData(Buffer.from([1, 1, 2, 3]))).toBeUndefined();
    expect(decodeSessionData(Buffer.alloc(0))).toBeUndefined();
  });
});
