import { describe, it, expect } from 'vitest';
import { randomBytes } from 'node:crypto';
import { brotliCompressSync } from 'node:zlib';
import fc from 'fast-check';
import { decodeSessionData, encodeSessionData } from '../../src/session/codec.ts';

const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbm4iLCJncm91cHMiOlsiYSIsImIiXX0.c2lnbmF0dXJlLWJ5dGVz';
const json64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** A JWT as an identity provider issues it: JSON header and payload, a random RS256 signature. */
function rs256Jwt(claims: Record<string, unknown>): string {
  return `${json64({ alg: 'RS256', typ: 'JWT', kid: 'key-1' })}.${json64(claims)}.${randomBytes(256).toString('base64url')}`;
}

describe('session data codec', () => {
  it('round-trips any JSON value exactly', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const normalized = JSON.parse(JSON.stringify(value)) as unknown;
        expect(decodeSessionData(encodeSessionData(normalized))).toEqual(normalized);
      }),
    );
  });

  it('round-trips every token-shaped string exactly: any segment lengths, empty segments, non-canonical base64url, JSON-looking segments', () => {
    const segment = fc.oneof(
      fc.string({ unit: fc.constantFrom(...BASE64URL), maxLength: 120 }),
      fc.string({ unit: fc.constantFrom(...BASE64URL), maxLength: 120 }).map((s) => `eyJ${s}`),
      fc.jsonValue().map((v) => json64({ v })),
    );
    const token = fc.array(segment, { minLength: 2, maxLength: 5 }).map((parts) => parts.join('.'));
    fc.assert(
      fc.property(fc.array(token, { maxLength: 6 }), fc.string(), (tokens, other) => {
        const value = { tokens, other, nested: { first: tokens[0] ?? null } };
        expect(decodeSessionData(encodeSessionData(value))).toEqual(value);
      }),
    );
  });

  it('round-trips JWTs, near-JWTs and strings that look like its own escapes', () => {
    const long = rs256Jwt({ sub: 'ann', groups: ['a', 'b'] });
    const data = {
      sub: 'ann',
      tokens: { id_token: jwt, access_token: long, other: `${long}=`, noncanonical: long.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')), three: 'eyJ.a.b', five: `${long}.${long.split('.')[0]}.` },
      tricky: ['\u00000', '\u0000\u00001', '\u0000', 'plain'],
    };
    expect(decodeSessionData(encodeSessionData(data))).toEqual(data);
  });

  it('costs a sign-in with two RS256 JWTs the raw size of its random parts plus under a quarter of its text', () => {
    const claims = { iss: 'https://login.example.com', sub: 'ann', aud: 'portcullis', email: 'ann@example.com', name: 'Ann Example', groups: Array.from({ length: 10 }, (_, i) => `team-${i}`) };
    const refreshToken = randomBytes(48).toString('base64url');
    const data = { v: 1, sub: 'ann', email: claims.email, name: claims.name, groups: claims.groups, claims: {}, idToken: rs256Jwt(claims), accessToken: rs256Jwt({ ...claims, scope: 'openid email' }), refreshToken };
    // Random: two 256-byte signatures and the refresh token. Text: everything else, JWT claims included.
    const randomBytesCount = 2 * 256 + 48;
    const textChars = Buffer.byteLength(JSON.stringify(data)) - 2 * 342 - refreshToken.length;
    expect(encodeSessionData(data).length).toBeLessThan(randomBytesCount + textChars / 4);
  });

  it('stores random base64url segments at 6 bits per character, whatever their length', () => {
    for (const chars of [4000, 4001, 4002, 4003]) {
      const random = (n: number) => Array.from(randomBytes(n), (b) => BASE64URL[b & 63]).join('');
      const data = { token: `${random(chars)}.${random(chars)}` };
      expect(encodeSessionData(data).length).toBeLessThanOrEqual(Math.ceil(chars / 4) * 3 * 2 + 32);
      expect(decodeSessionData(encodeSessionData(data))).toEqual(data);
    }
  });

  it('still reads what codec 2 wrote: the preset dictionary is part of the format', () => {
    // Written by encodeSessionData when codec 2 was introduced. If this fails, the dictionary or the
    // framing changed: give the new format a new codec number instead.
    const written =
      'AjZzaWduYXR1cmUtYnl0ZXMtb2YtYW4tUlMyNTYtc2lnbmF0dXJlLW5vdC1jYW5vbmljYWxfAABjZPZZxtTLWE0wm2QbKtWip/rMlAK91IrE3IKcVL3k/Fx4JkjMy4Png4L8opLk0pyczGJYjjA0NwABYwMDaN6AChiABGChnpiX54BqNCKUU/PSQSmzoFgpthY12iAWk2gGcujHlILdgRneRSW6oFhACmGEq8EOLynKTM6uhBsBISuUagE=';
    const idToken = `${json64({ alg: 'RS256', typ: 'JWT', kid: 'k1' })}.${json64({ iss: 'https://idp.example.com', sub: 'ann', aud: 'portcullis', exp: 1700000300, iat: 1700000000, email: 'ann@example.com', groups: ['eng', 'ops'] })}.c2lnbmF0dXJlLWJ5dGVzLW9mLWFuLVJTMjU2LXNpZ25hdHVyZS1ub3QtY2Fub25pY2FsXw`;
    expect(decodeSessionData(Buffer.from(written, 'base64'))).toEqual({
      v: 1,
      sub: 'ann',
      email: 'ann@example.com',
      groups: ['eng', 'ops'],
      idToken,
      refreshToken: 'rt-1',
      createdAt: 1700000000000,
      tricky: '\u0000x',
    });
  });

  it('refuses a record of the previous format (codec 1, brotli) instead of misreading it', () => {
    // 1 | brotli( no JWTs (0) | {"sub":"ann","groups":["eng"]} ): what codec 1 wrote for that session.
    const codec1 = Buffer.concat([Buffer.from([1]), brotliCompressSync(Buffer.concat([Buffer.from([0]), Buffer.from('{"sub":"ann","groups":["eng"]}')]))]);
    expect(decodeSessionData(codec1)).toBeUndefined();
  });

  it('refuses bytes it did not write', () => {
    const good = encodeSessionData({ sub: 'ann', token: rs256Jwt({ sub: 'ann' }) });
    expect(decodeSessionData(good)).toBeDefined();
    for (const bad of [Buffer.from([3, 1, 2, 3]), Buffer.from([2, 1, 2, 3]), Buffer.from([2]), Buffer.alloc(0), good.subarray(0, good.length - 1), good.subarray(0, 40), Buffer.concat([good.subarray(0, 1), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])])]) {
      expect(decodeSessionData(bad)).toBeUndefined();
    }
  });
});
