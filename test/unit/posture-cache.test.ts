// The posture verification cache is a shortcut past the signature check for one token and
// one user: the same token presented for another user is not a hit.
import { describe, expect, it } from 'vitest';
import { VerificationCache, type CachedVerification } from '../../src/posture/cache.ts';

const value: CachedVerification = { facts: { ok: true, claims: { managed: true } }, times: { iat: 1, exp: 2 } } as unknown as CachedVerification;

describe('the posture verification cache', () => {
  it('hits only for the user the token was verified for (sub and email, email case-insensitive)', () => {
    const cache = new VerificationCache(10);
    cache.set('tok', { sub: 'alice', email: 'Alice@Example.com' }, value);
    expect(cache.get('tok', { sub: 'alice', email: 'alice@example.com' })).toBeDefined();
    expect(cache.get('tok', { sub: 'mallory', email: 'alice@example.com' })).toBeUndefined();
    expect(cache.get('tok', { sub: 'alice', email: 'mallory@example.com' })).toBeUndefined();
    expect(cache.get('tok', { sub: 'alice' })).toBeUndefined();
    expect(cache.get('tok', undefined)).toBeUndefined();
    expect(cache.get('other', { sub: 'alice', email: 'alice@example.com' })).toBeUndefined();
  });

  it('keeps at most its bound, dropping the oldest', () => {
    const cache = new VerificationCache(2);
    for (const t of ['a', 'b', 'c']) cache.set(t, { sub: 's' }, value);
    expect(cache.size).toBe(2);
    expect(cache.get('a', { sub: 's' })).toBeUndefined();
    expect(cache.get('c', { sub: 's' })).toBeDefined();
  });
});
