// The posture verifier with static keys: every way a posture token can be wrong is
// refused with a reason, and nothing is assumed when it is.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT, exportSPKI, exportJWK, base64url } from 'jose';
import { duration } from '../../src/config/schema.ts';
import { devicePostureSchema } from '../../src/posture/config.ts';
import { createPostureVerifier, PostureConfigError, type PostureVerifier } from '../../src/posture/verifier.ts';
import type { DeviceFacts } from '../../src/posture/facts.ts';
import { createPostureIssuer, type IssuerKey, type PostureIssuer } from '../helpers/posture.ts';
import { tempDir } from '../helpers/servers.ts';
import { createLogger } from '../../src/log.ts';

const schema = devicePostureSchema(duration);
const alice = { sub: 'alice-sub', email: 'alice@example.com' };
const HOUR = 3600;

let issuer: PostureIssuer;
let rogue: IssuerKey;
let esB: IssuerKey;
let dir: string;
let verifier: PostureVerifier;
const warnings: string[] = [];
const logger = { warn: (_f: Record<string, unknown>, m: string) => void warnings.push(m) };

async function writeKey(k: IssuerKey, as: 'pem' | 'jwk'): Promise<string> {
  const file = join(dir, `${k.kid}.${as}`);
  writeFileSync(file, as === 'pem' ? await exportSPKI(k.publicKey) : JSON.stringify(k.publicJwk));
  return file;
}

function config(extra: Record<string, unknown> = {}) {
  return schema.parse({ keys: extra.keys ?? [], issuer: issuer.issuer, audience: issuer.audience, ...extra });
}

const headers = (token: string) => ({ 'x-device-posture': token });
const now = () => Date.now();

function expectFailure(facts: DeviceFacts, code: string, reason?: RegExp) {
  expect(facts.ok).toBe(false);
  if (facts.ok) return;
  expect(facts.code).toBe(code);
  if (reason) expect(facts.reason).toMatch(reason);
}

beforeAll(async () => {
  issuer = await createPostureIssuer();
  esB = await issuer.addKey('ES256', { kid: 'es-b' });
  rogue = await issuer.addKey('ES256', { kid: 'rogue', publish: false });
  dir = tempDir('posture-keys-');
  const [es, rs, ed] = issuer.keys;
  // A mix of the file formats an admin may have: JWK files keep their kid, the PEM gets its thumbprint.
  const keys = [await writeKey(es!, 'jwk'), await writeKey(rs!, 'jwk'), await writeKey(ed!, 'jwk'), await writeKey(esB, 'pem')];
  verifier = createPostureVerifier(config({ keys }), { logger });
});
afterAll(() => issuer.close());

describe('signed device posture with static keys', () => {
  it.each(['ES256', 'RS256', 'EdDSA'] as const)('a valid %s token gives typed device facts', async (alg) => {
    const token = await issuer.sign({ device_id: 'dev-1', managed: true, disk_encrypted: true, risk: 'low', os: 'macOS', serial: 'ignored' }, { alg });
    const facts = await verifier.verify(headers(token), alice, false, now());
    expect(facts).toEqual({ ok: true, source: 'jwt', claims: { device_id: 'dev-1', managed: true, disk_encrypted: true, risk: 'low', os: 'macOS' } });
  });

  it('answers a token verified before at once, without a promise, and checks its freshness every time', async () => {
    const token = await issuer.sign({ device_id: 'dev-sync', managed: true }, { alg: 'ES256' });
    const first = verifier.verify(headers(token), alice, false, now());
    expect(first).toBeInstanceOf(Promise);
    expect(await first).toMatchObject({ ok: true });
    const again = verifier.verify(headers(token), alice, false, now());
    expect(again).not.toBeInstanceOf(Promise);
    expect(again).toMatchObject({ ok: true, claims: { device_id: 'dev-sync' } });
    // for someone else, the cached verification does not count
    expect(verifier.verify(headers(token), { sub: 'mallory' }, false, now())).toBeInstanceOf(Promise);
  });

  it('a PEM key without a kid verifies tokens that carry no kid', async () => {
    const token = await issuer.sign({ device_id: 'dev-2' }, { kid: 'es-b', headerKid: null });
    expect(await verifier.verify(headers(token), alice, false, now())).toMatchObject({ ok: true });
  });

  it('no posture header is posture-missing', async () => {
    expectFailure(await verifier.verify({}, alice, false, now()), 'posture-missing', /X-Device-Posture/);
    expectFailure(await verifier.verify({ 'x-device-posture': '' }, alice, false, now()), 'posture-missing');
  });

  it('an expired token is posture-expired', async () => {
    const t = now();
    const token = await issuer.sign({ device_id: 'd' }, { nowMs: t - 2 * HOUR * 1000, iat: Math.floor(t / 1000) - 120, exp: Math.floor(t / 1000) - 60 });
    expectFailure(await verifier.verify(headers(token), alice, false, t), 'posture-expired', /expired/);
  });

  it('a token that is not valid yet is refused', async () => {
    const t = now();
    const token = await issuer.sign({ device_id: 'd' }, { nowMs: t, nbf: Math.floor(t / 1000) + 300 });
    expectFailure(await verifier.verify(headers(token), alice, false, t), 'posture-invalid', /not valid yet/);
  });

  it('a token issued longer ago than max_age is posture-stale, however long its exp', async () => {
    const t = now();
    const token = await issuer.sign({ device_id: 'd' }, { iat: Math.floor(t / 1000) - 11 * 60, exp: Math.floor(t / 1000) + HOUR });
    expectFailure(await verifier.verify(headers(token), alice, false, t), 'posture-stale', /max_age \(600 s\)/);
  });

  it('a token issued in the future is refused', async () => {
    const t = now();
    const token = await issuer.sign({ device_id: 'd' }, { iat: Math.floor(t / 1000) + 600 });
    expectFailure(await verifier.verify(headers(token), alice, false, t), 'posture-invalid', /issued in the future/);
  });

  it('a token without iat, or without exp, is refused', async () => {
    expectFailure(await verifier.verify(headers(await issuer.sign({ device_id: 'd' }, { iat: null })), alice, false, now()), 'posture-invalid', /no "iat" claim/);
    expectFailure(await verifier.verify(headers(await issuer.sign({ device_id: 'd' }, { exp: null })), alice, false, now()), 'posture-invalid', /no "exp" claim/);
  });

  it('a token signed by a key that is not configured is refused', async () => {
    const token = await issuer.sign({ device_id: 'd' }, { kid: 'rogue' });
    expectFailure(await verifier.verify(headers(token), alice, false, now()), 'posture-invalid', /not among the configured keys/);
    const noKid = await issuer.sign({ device_id: 'd' }, { kid: 'rogue', headerKid: null });
    expectFailure(await verifier.verify(headers(noKid), alice, false, now()), 'posture-invalid');
  });

  it('a kid only selects among configured keys: naming another configured key does not verify', async () => {
    const token = await issuer.sign({ device_id: 'd' }, { kid: 'rogue', headerKid: issuer.keys[0]!.kid });
    expectFailure(await verifier.verify(headers(token), alice, false, now()), 'posture-invalid', /signature that does not verify/);
    const swapped = await issuer.sign({ device_id: 'd' }, { kid: issuer.keys[0]!.kid, headerKid: 'es-b' });
    expectFailure(await verifier.verify(headers(swapped), alice, false, now()), 'posture-invalid');
  });

  it('wrong issuer and wrong audience are refused', async () => {
    expectFailure(await verifier.verify(headers(await issuer.sign({}, { issuer: 'https://evil.example' })), alice, false, now()), 'posture-invalid', /another issuer/);
    expectFailure(await verifier.verify(headers(await issuer.sign({}, { audience: 'some-other-app' })), alice, false, now()), 'posture-invalid', /another audience/);
  });

  it('alg "none" is refused', async () => {
    const t = Math.floor(now() / 1000);
    const enc = (o: object) => base64url.encode(JSON.stringify(o));
    const token = `${enc({ alg: 'none', typ: 'JWT' })}.${enc({ iss: issuer.issuer, aud: issuer.audience, iat: t, exp: t + 600, device_id: 'd', managed: true })}.`;
    expectFailure(await verifier.verify(headers(token), alice, false, now()), 'posture-invalid', /algorithm/);
  });

  it('HS256 "signed" with the public key as the shared secret is refused (PEM, JWK and raw JWK x bytes)', async () => {
    const t = Math.floor(now() / 1000);
    const key = issuer.keys[0]!;
    const pem = await exportSPKI(key.publicKey);
    const secrets = [pem, pem.trim(), JSON.stringify(key.publicJwk), JSON.stringify(await exportJWK(key.publicKey))];
    for (const secret of secrets) {
      const token = await new SignJWT({ device_id: 'forged', managed: true, compliant: true })
        .setProtectedHeader({ alg: 'HS256', kid: key.kid })
        .setIssuer(issuer.issuer).setAudience(issuer.audience).setIssuedAt(t).setExpirationTime(t + 600)
        .sign(new TextEncoder().encode(secret));
      expectFailure(await verifier.verify(headers(token), alice, false, now()), 'posture-invalid', /algorithm/);
    }
  });

  it('a verifier restricted to ES256 refuses an otherwise valid RS256 token', async () => {
    const es256Only = createPostureVerifier(config({ keys: [await writeKey(issuer.keys[1]!, 'jwk'), await writeKey(issuer.keys[0]!, 'jwk')], algorithms: ['ES256'] }), { logger });
    expectFailure(await es256Only.verify(headers(await issuer.sign({}, { alg: 'RS256' })), alice, false, now()), 'posture-invalid', /algorithm/);
    expect(await es256Only.verify(headers(await issuer.sign({}, { alg: 'ES256' })), alice, false, now())).toMatchObject({ ok: true });
  });

  it.each(['jku', 'x5u', 'jwk'])('a correctly signed token carrying a "%s" header is refused outright', async (param) => {
    const value = param === 'jwk' ? issuer.keys[0]!.publicJwk : 'https://evil.example/keys';
    const token = await issuer.sign({ device_id: 'd' }, { header: { [param]: value } });
    expectFailure(await verifier.verify(headers(token), alice, false, now()), 'posture-invalid', new RegExp(`"${param}" header`));
  });

  it('an x5c header is not used to find a key: the configured key still decides', async () => {
    const token = await issuer.sign({ device_id: 'd' }, { kid: 'rogue', headerKid: issuer.keys[0]!.kid, header: { x5c: ['MIIBfake'] } });
    expectFailure(await verifier.verify(headers(token), alice, false, now()), 'posture-invalid');
  });

  it('posture for another user is refused: sub or email mismatch', async () => {
    expectFailure(await verifier.verify(headers(await issuer.sign({ sub: 'bob-sub' })), alice, false, now()), 'posture-wrong-user', /posture belongs to another user/);
    expectFailure(await verifier.verify(headers(await issuer.sign({ email: 'bob@example.com' })), alice, false, now()), 'posture-wrong-user');
    const mine = await verifier.verify(headers(await issuer.sign({ sub: 'alice-sub', email: 'ALICE@example.com', device_id: 'd' })), alice, false, now());
    expect(mine).toMatchObject({ ok: true, claims: { sub: 'alice-sub', email: 'ALICE@example.com', device_id: 'd' } });
  });

  it('a token larger than 8 KiB is refused before it is parsed', async () => {
    const huge = await issuer.sign({ device_id: 'd', padding: 'x'.repeat(9000) });
    expectFailure(await verifier.verify(headers(huge), alice, false, now()), 'posture-invalid', /larger than 8 KiB/);
    expectFailure(await verifier.verify(headers('{'.repeat(10_000)), alice, false, now()), 'posture-invalid', /larger than 8 KiB/);
  });

  it.each(['garbage', 'a.b.c', 'eyJhbGciOiJFUzI1NiJ9.e30', 'eyJhbGciOiJFUzI1NiJ9.bm90IGpzb24.c2ln', '...', 'Bearer x.y.z'])('garbage "%s" is refused', async (token) => {
    expectFailure(await verifier.verify(headers(token), alice, false, now()), 'posture-invalid');
  });

  it('a posture header sent twice is refused', async () => {
    const token = await issuer.sign({ device_id: 'd' });
    expectFailure(await verifier.verify({ 'x-device-posture': [token, token] }, alice, false, now()), 'posture-invalid', /more than once/);
  });

  it('claims of the wrong type are absent, never coerced truthy', async () => {
    const token = await issuer.sign({ managed: 'true', disk_encrypted: 'false', firewall: 1, compliant: 0, risk: 'HIGH', device_id: 42, os: 'Windows', os_version: 11 });
    expect(await verifier.verify(headers(token), alice, false, now())).toEqual({ ok: true, source: 'jwt', claims: { os: 'Windows' } });
  });
});

describe('the verification cache', () => {
  it('serves a repeated token from the cache for the same user', async () => {
    const token = await issuer.sign({ device_id: 'cached' });
    const first = await verifier.verify(headers(token), alice, false, now());
    const second = await verifier.verify(headers(token), alice, false, now());
    expect(first.ok).toBe(true);
    expect(second).toBe(first);
  });

  it('a cached result still goes stale by max_age and expires by exp', async () => {
    const t = now();
    const iat = Math.floor(t / 1000);
    const token = await issuer.sign({ device_id: 'ages' }, { iat, exp: iat + 20 * 60 });
    expect(await verifier.verify(headers(token), alice, false, t)).toMatchObject({ ok: true });
    expectFailure(await verifier.verify(headers(token), alice, false, t + 11 * 60_000), 'posture-stale');

    const shortLived = await issuer.sign({ device_id: 'short' }, { iat, exp: iat + 120 });
    expect(await verifier.verify(headers(shortLived), alice, false, t)).toMatchObject({ ok: true });
    expectFailure(await verifier.verify(headers(shortLived), alice, false, t + 5 * 60_000), 'posture-expired');
  });

  it('is keyed by user too: a token cached for its owner is still refused for someone else', async () => {
    const token = await issuer.sign({ sub: 'alice-sub', device_id: 'd' });
    expect(await verifier.verify(headers(token), alice, false, now())).toMatchObject({ ok: true });
    expectFailure(await verifier.verify(headers(token), { sub: 'bob-sub', email: 'bob@example.com' }, false, now()), 'posture-wrong-user');
    expectFailure(await verifier.verify(headers(token), undefined, false, now()), 'posture-wrong-user');
  });

  it('remembers the last verification per user object (the session), only for the same token, and still checks its age', async () => {
    const session = { ...alice };
    const t = now();
    const iat = Math.floor(t / 1000);
    const one = await issuer.sign({ device_id: 'one' }, { iat, exp: iat + 20 * 60 });
    const two = await issuer.sign({ device_id: 'two' });
    await verifier.verify(headers(one), session, false, t);
    const remembered = verifier.verify(headers(one), session, false, t);
    expect(verifier.verify(headers(one), session, false, t)).toBe(remembered);
    // another token from the same session is verified for itself, not answered with the remembered one
    expect(await verifier.verify(headers(two), session, false, t)).toMatchObject({ ok: true, claims: { device_id: 'two' } });
    expect(verifier.verify(headers(one), session, false, t)).toMatchObject({ ok: true, claims: { device_id: 'one' } });
    expectFailure(await verifier.verify(headers(one), session, false, t + 11 * 60_000), 'posture-stale');
  });

  it('stays bounded', async () => {
    const small = createPostureVerifier(config({ keys: [await writeKey(issuer.keys[0]!, 'jwk')] }), { logger, cacheEntries: 2 });
    const tokens = await Promise.all([1, 2, 3].map((i) => issuer.sign({ device_id: `d${i}` })));
    const facts = [];
    for (const t of tokens) facts.push(await small.verify(headers(t), alice, false, now()));
    // The first entry was evicted: verifying it again yields a new (equal) result.
    const again = await small.verify(headers(tokens[0]!), alice, false, now());
    expect(again).toEqual(facts[0]);
    expect(again).not.toBe(facts[0]);
    expect(await small.verify(headers(tokens[2]!), alice, false, now())).toBe(facts[2]);
  });
});

describe('posture from trusted headers', () => {
  const headerConfig = () =>
    schema.parse({ trusted_headers: { managed: 'X-Device-Managed', device_id: 'X-Device-Id', disk_encrypted: 'X-Device-Disk-Encrypted', os: 'X-Device-Os' } });
  const sent = { 'x-device-managed': 'true', 'x-device-id': 'edge-dev-1', 'x-device-disk-encrypted': 'false', 'x-device-os': 'Windows' };

  it('are facts when the TCP peer is a trusted proxy', async () => {
    // Portcullis's own pino logger fits the verifier's logger interface.
    const v = createPostureVerifier(headerConfig(), { logger: createLogger({ level: 'silent', sync: true }) });
    expect(await v.verify(sent, alice, true, now())).toEqual({ ok: true, source: 'headers', claims: { managed: true, device_id: 'edge-dev-1', disk_encrypted: false, os: 'Windows' } });
    expect([...v.headerNames].sort()).toEqual(['x-device-disk-encrypted', 'x-device-id', 'x-device-managed', 'x-device-os']);
  });

  it('are ignored, and reported, when anyone else sends them', async () => {
    const v = createPostureVerifier(headerConfig(), { logger });
    expectFailure(await v.verify(sent, alice, false, now()), 'posture-untrusted-headers', /x-device-managed.*trusted_proxies/);
  });

  it('none sent is posture-missing', async () => {
    const v = createPostureVerifier(headerConfig(), { logger });
    expectFailure(await v.verify({ 'x-device-posture': 'ignored-without-keys' }, alice, true, now()), 'posture-missing');
  });

  it('"1" and "yes" are not true', async () => {
    const v = createPostureVerifier(headerConfig(), { logger });
    expect(await v.verify({ 'x-device-managed': '1', 'x-device-disk-encrypted': 'yes' }, alice, true, now())).toEqual({ ok: true, source: 'headers', claims: {} });
  });

  it('with both sources, an invalid token does not fall back to headers', async () => {
    const both = createPostureVerifier(config({ keys: [await writeKey(issuer.keys[0]!, 'jwk')], trusted_headers: { managed: 'X-Device-Managed' } }), { logger });
    expectFailure(await both.verify({ 'x-device-posture': 'garbage', 'x-device-managed': 'true' }, alice, true, now()), 'posture-invalid');
    expect(await both.verify({ 'x-device-managed': 'true' }, alice, true, now())).toMatchObject({ ok: true, source: 'headers' });
  });
});

describe('static key configuration', () => {
  it('reports every unusable key file with its index, at load', async () => {
    const priv = join(dir, 'private.pem');
    writeFileSync(priv, '-----BEGIN PRIVATE KEY-----\nMIG\n-----END PRIVATE KEY-----\n');
    const secret = join(dir, 'oct.json');
    writeFileSync(secret, JSON.stringify({ kty: 'oct', k: 'c2VjcmV0' }));
    let error: unknown;
    try {
      createPostureVerifier(config({ keys: [join(dir, 'missing.pem'), priv, secret, await writeKey(issuer.keys[0]!, 'jwk')] }), { logger });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(PostureConfigError);
    const problems = (error as PostureConfigError).problems;
    expect(problems.map((p) => p.path)).toEqual([['keys', 0], ['keys', 1], ['keys', 2]]);
    expect(problems[0]!.message).toMatch(/cannot read .*missing\.pem \(ENOENT\)/);
    expect(problems[1]!.message).toMatch(/private key.*-pubout/);
    expect(problems[2]!.message).toMatch(/shared secret/);
  });

  it('refuses two keys with the same kid', async () => {
    const file = await writeKey(issuer.keys[0]!, 'jwk');
    expect(() => createPostureVerifier(config({ keys: [file, file] }), { logger })).toThrow(/share the kid/);
  });
});
