import { describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { AssertionSigner } from '../../src/identity/assertion.ts';

const pem = (kind: 'ec' | 'rsa') =>
  (kind === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 2048 })).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;

const claims = { sub: 'alice', email: 'alice@example.com', groups: ['engineering'], sid: 's1' };

describe('the upstream assertion', () => {
  it('is signed by the first configured key while every key stays published, so keys rotate without breaking upstreams', async () => {
    const [newKey, oldKey] = [pem('ec'), pem('rsa')];
    const signer = await AssertionSigner.create([newKey, oldKey], 'https://access.example.com', 300_000);
    const jwks = JSON.parse(signer.jwksJson) as { keys: { kid: string; alg: string }[] };
    expect(jwks.keys.map((k) => k.alg)).toEqual(['ES256', 'RS256']);
    const jwt = await signer.assertion('session-1', 'https://app.example.com', claims);
    expect(decodeProtectedHeader(jwt).kid).toBe(jwks.keys[0]!.kid);
    const { payload } = await jwtVerify(jwt, createLocalJWKSet(jwks as never), { issuer: 'https://access.example.com', audience: 'https://app.example.com' });
    expect(payload).toMatchObject({ sub: 'alice', email: 'alice@example.com', groups: ['engineering'], sid: 's1' });
    expect(typeof payload.jti).toBe('string');
    expect(payload.exp! - payload.iat!).toBe(300);
  });

  it('publishes no private key material', async () => {
    const signer = await AssertionSigner.create([pem('ec'), pem('rsa')], 'https://a', 60_000);
    for (const key of (JSON.parse(signer.jwksJson) as { keys: Record<string, unknown>[] }).keys) {
      for (const privatePart of ['d', 'p', 'q', 'dp', 'dq', 'qi']) expect(key).not.toHaveProperty(privatePart);
    }
  });

  it('is reused for the same session and route until near expiry, and differs per route', async () => {
    const signer = await AssertionSigner.create([], 'https://a', 300_000);
    const t0 = 1_800_000_000_000;
    const first = await signer.assertion('s', 'https://app1', claims, t0);
    expect(await signer.assertion('s', 'https://app1', claims, t0 + 60_000)).toBe(first);
    expect(await signer.assertion('s', 'https://app2', claims, t0 + 60_000)).not.toBe(first);
    // past four fifths of its lifetime a fresh one is signed
    expect(await signer.assertion('s', 'https://app1', claims, t0 + 241_000)).not.toBe(first);
  });

  it('is forgotten when the session changes', async () => {
    const signer = await AssertionSigner.create([], 'https://a', 300_000);
    const first = await signer.assertion('s', 'https://app1', claims);
    // the second time it comes from the session object's own memo, which forget() must reach too
    expect(await signer.assertion('s', 'https://app1', claims)).toBe(first);
    signer.forget('s');
    expect(await signer.assertion('s', 'https://app1', claims)).not.toBe(first);
  });
});
