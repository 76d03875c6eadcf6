// Login state and hand-off tokens come back from the browser: only Portcullis's own, unexpired, for the same purpose.
import { describe, expect, it } from 'vitest';
import { Sealer } from '../../src/auth/sealed.ts';

const secret = 'a-cookie-secret-of-at-least-32-characters!!';
const value = { state: 's', nonce: 'n', verifier: 'v', returnTo: 'https://app.test/' };

describe('sealed login state and hand-off tokens', () => {
  it('opens what it sealed, before it expires', () => {
    const sealer = new Sealer(secret);
    expect(sealer.unseal('login', sealer.seal('login', value, 60_000))).toEqual(value);
  });

  it('refuses a login state whose time is up', () => {
    const sealer = new Sealer(secret);
    const now = Date.now();
    const token = sealer.seal('login', value, 600_000, now - 600_001);
    expect(sealer.unseal('login', token, now)).toBeUndefined();
    expect(sealer.unseal('login', token)).toBeUndefined();
    // the same token was fine just before its expiry
    expect(sealer.unseal('login', token, now - 2)).toEqual(value);
  });

  it('refuses a token sealed for another purpose', () => {
    const sealer = new Sealer(secret);
    expect(sealer.unseal('handoff', sealer.seal('login', value, 60_000))).toBeUndefined();
  });

  it('refuses a token sealed with another secret', () => {
    const token = new Sealer('another-secret-of-at-least-32-characters!!').seal('login', value, 60_000);
    expect(new Sealer(secret).unseal('login', token)).toBeUndefined();
  });

  it('refuses any altered, truncated, extended or malformed token', () => {
    const sealer = new Sealer(secret);
    const token = sealer.seal('login', value, 60_000);
    const flipped = (i: number) => token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1);
    for (const i of [0, 5, 16, Math.floor(token.length / 2), token.length - 3]) expect(sealer.unseal('login', flipped(i))).toBeUndefined();
    expect(sealer.unseal('login', token.slice(0, -1))).toBeUndefined();
    expect(sealer.unseal('login', token.slice(0, 20))).toBeUndefined();
    expect(sealer.unseal('login', token + 'AAAA')).toBeUndefined();
    expect(sealer.unseal('login', token + '=')).toBeUndefined();
    expect(sealer.unseal('login', '')).toBeUndefined();
    expect(sealer.unseal('login', undefined)).toBeUndefined();
    expect(sealer.unseal('login', 'A'.repeat(20_000))).toBeUndefined();
  });

  it('binds a form token to one value', () => {
    const sealer = new Sealer(secret);
    const mac = sealer.mac('csrf', 'session-1');
    expect(sealer.verifyMac('csrf', 'session-1', mac)).toBe(true);
    expect(sealer.verifyMac('csrf', 'session-2', mac)).toBe(false);
    expect(sealer.verifyMac('csrf', 'session-1', undefined)).toBe(false);
    expect(sealer.verifyMac('csrf', 'session-1', '')).toBe(false);
    expect(sealer.verifyMac('csrf', 'session-1', mac.slice(0, -1))).toBe(false);
    expect(new Sealer('another-secret-of-at-least-32-characters!!').verifyMac('csrf', 'session-1', mac)).toBe(false);
  });
});
