import { describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, exportSPKI, generateKeyPair } from 'jose';
import { jwkThumbprint, parseKeyFile } from '../../src/posture/keys.ts';

describe('posture key files', () => {
  it.each(['ES256', 'RS256', 'EdDSA'] as const)('a PEM public key (%s) is read, with its RFC 7638 thumbprint as kid', async (alg) => {
    const { publicKey } = await generateKeyPair(alg, { extractable: true });
    const [jwk, ...rest] = parseKeyFile(await exportSPKI(publicKey));
    expect(rest).toEqual([]);
    const expected = await exportJWK(publicKey);
    expect(jwk).toMatchObject(expected);
    expect(jwk!.kid).toBe(await calculateJwkThumbprint(expected));
    expect(jwk!.kid).toBe(jwkThumbprint(expected));
  });

  it('a JWK file keeps its kid, alg and use', async () => {
    const { publicKey } = await generateKeyPair('ES256', { extractable: true });
    const source = { ...(await exportJWK(publicKey)), kid: 'mdm-2026', alg: 'ES256', use: 'sig' };
    expect(parseKeyFile(JSON.stringify(source))).toEqual([source]);
  });

  it('a JWKS file gives every key in it', async () => {
    const a = { ...(await exportJWK((await generateKeyPair('ES256', { extractable: true })).publicKey)), kid: 'a' };
    const b = { ...(await exportJWK((await generateKeyPair('RS256', { extractable: true })).publicKey)), kid: 'b' };
    expect(parseKeyFile(JSON.stringify({ keys: [a, b] })).map((k) => k.kid)).toEqual(['a', 'b']);
  });

  it('refuses private keys, shared secrets, certificates and garbage, saying what to do', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expect(() => parseKeyFile(privateKey.export({ type: 'pkcs8', format: 'pem' }) as string)).toThrow(/private key.*openssl pkey/);
    expect(() => parseKeyFile(JSON.stringify(privateKey.export({ format: 'jwk' })))).toThrow(/private key.*"d"/);
    expect(() => parseKeyFile(JSON.stringify({ kty: 'oct', k: 'c2VjcmV0' }))).toThrow(/shared secret/);
    expect(() => parseKeyFile('-----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----')).toThrow(/openssl x509/);
    expect(() => parseKeyFile('-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----')).toThrow(/cannot be read/);
    expect(() => parseKeyFile('{"keys": []}')).toThrow(/empty JWKS/);
    expect(() => parseKeyFile('{ nope')).toThrow(/nor valid JSON/);
    expect(() => parseKeyFile('hello')).toThrow(/neither a PEM public key/);
    expect(() => parseKeyFile(JSON.stringify({ kty: 'EC', crv: 'P-256', x: 'AAAA', y: 'AAAA' }))).toThrow(/cannot be imported/);
  });

  it('refuses key types that cannot sign posture', () => {
    const { publicKey } = generateKeyPairSync('x25519');
    expect(() => parseKeyFile(publicKey.export({ type: 'spki', format: 'pem' }) as string)).toThrow(/must be RSA, EC .* or Ed25519/);
  });
});
