// Signed device posture against a real JWKS served over HTTP on loopback: keys are
// fetched, rotated and cached, and an unreachable or broken JWKS never lets posture pass.
import { afterEach, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { duration } from '../../src/config/schema.ts';
import { devicePostureSchema } from '../../src/posture/config.ts';
import { createPostureVerifier, type PostureVerifier } from '../../src/posture/verifier.ts';
import type { DeviceFacts } from '../../src/posture/facts.ts';
import { createPostureIssuer, type JwksMode, type PostureIssuer } from '../helpers/posture.ts';

const schema = devicePostureSchema(duration);
const alice = { sub: 'alice-sub', email: 'alice@example.com' };
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function issuerForTest(): Promise<PostureIssuer> {
  const issuer = await createPostureIssuer();
  cleanups.push(() => issuer.close());
  return issuer;
}

// A generous timeout: the first fetch on a busy 2-core machine can be slow; only the
// hanging-JWKS test sets a short one.
function verifierFor(jwksUrl: string, issuer: PostureIssuer, extra: Record<string, unknown> = {}) {
  const warnings: { fields: Record<string, unknown>; message: string }[] = [];
  const config = schema.parse({ jwks_url: jwksUrl, issuer: issuer.issuer, audience: issuer.audience, insecure_allow_http: true, jwks_timeout: '5s', ...extra });
  const verifier = createPostureVerifier(config, { logger: { warn: (fields, message) => void warnings.push({ fields, message }) } });
  return { verifier, warnings };
}

const verify = (v: PostureVerifier, token: string, nowMs = Date.now()) => v.verify({ 'x-device-posture': token }, alice, false, nowMs);

function expectUnavailable(facts: DeviceFacts, detail?: RegExp) {
  expect(facts).toMatchObject({ ok: false, code: 'posture-keys-unavailable' });
  if (!facts.ok) {
    expect(facts.reason).toMatch(/^device posture keys unreachable/);
    if (detail) expect(facts.reason).toMatch(detail);
  }
}

/** A port nothing listens on: bind one, then close it. */
async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('device posture verified against a remote JWKS', () => {
  it.each(['ES256', 'RS256', 'EdDSA'] as const)('a valid %s token verifies with keys fetched from the JWKS', async (alg) => {
    const issuer = await issuerForTest();
    const { verifier, warnings } = verifierFor(issuer.jwksUrl, issuer);
    const facts = await verify(verifier, await issuer.sign({ device_id: 'dev-1', compliant: true, sub: 'alice-sub' }, { alg }));
    expect(facts).toEqual({ ok: true, source: 'jwt', claims: { device_id: 'dev-1', compliant: true, sub: 'alice-sub' } });
    // Plain http is allowed only by name, and said out loud.
    expect(warnings.map((w) => w.message).join()).toMatch(/insecure_allow_http/);
  });

  it('fetches the JWKS once, not per token', async () => {
    const issuer = await issuerForTest();
    const { verifier } = verifierFor(issuer.jwksUrl, issuer);
    for (let i = 0; i < 5; i++) expect(await verify(verifier, await issuer.sign({ device_id: `d${i}` }, { alg: i % 2 ? 'RS256' : 'ES256' }))).toMatchObject({ ok: true });
    expect(issuer.fetches()).toBe(1);
  });

  it('a JWKS that refuses connections fails verification with a reason, and logs it once', async () => {
    const issuer = await issuerForTest();
    const { verifier, warnings } = verifierFor(`http://127.0.0.1:${await closedPort()}/jwks.json`, issuer);
    const token = await issuer.sign({ device_id: 'd', managed: true });
    const t = Date.now();
    expectUnavailable(await verify(verifier, token, t), /cannot connect \(ECONNREFUSED\)/);
    expectUnavailable(await verify(verifier, token, t + 1000));
    const outageLogs = warnings.filter((w) => /keys unreachable/.test(w.message));
    expect(outageLogs).toHaveLength(1);
    expect(JSON.stringify(outageLogs)).not.toContain(token);
  });

  it.each([
    ['not-json', /parse/],
    ['not-a-jwks', /not a JSON Web Key Set/],
    ['status-500', /200 OK/],
  ] as [JwksMode, RegExp][])('a JWKS answering %s fails verification, never passes', async (mode, detail) => {
    const issuer = await issuerForTest();
    issuer.setMode(mode);
    const { verifier } = verifierFor(issuer.jwksUrl, issuer);
    expectUnavailable(await verify(verifier, await issuer.sign({ device_id: 'd', managed: true })), detail);
  });

  it('a JWKS slower than jwks_timeout fails verification', async () => {
    const issuer = await issuerForTest();
    issuer.setMode('hang');
    const { verifier } = verifierFor(issuer.jwksUrl, issuer, { jwks_timeout: '200ms' });
    expectUnavailable(await verify(verifier, await issuer.sign({ device_id: 'd' })), /in time/);
  });

  it('verification recovers when the JWKS comes back', async () => {
    const issuer = await issuerForTest();
    issuer.setMode('status-500');
    const { verifier } = verifierFor(issuer.jwksUrl, issuer);
    const token = await issuer.sign({ device_id: 'd' });
    expectUnavailable(await verify(verifier, token));
    issuer.setMode('serve');
    expect(await verify(verifier, token)).toMatchObject({ ok: true });
  });

  it('keys already fetched keep working while the JWKS is briefly down', async () => {
    const issuer = await issuerForTest();
    const { verifier } = verifierFor(issuer.jwksUrl, issuer);
    expect(await verify(verifier, await issuer.sign({ device_id: 'before' }))).toMatchObject({ ok: true });
    issuer.setMode('status-500');
    expect(await verify(verifier, await issuer.sign({ device_id: 'during' }))).toMatchObject({ ok: true, claims: { device_id: 'during' } });
  });

  it('key rotation: a token signed with a newly published kid verifies after the JWKS is fetched again', async () => {
    const issuer = await issuerForTest();
    const { verifier } = verifierFor(issuer.jwksUrl, issuer, { jwks_cooldown: '0s' });
    expect(await verify(verifier, await issuer.sign({ device_id: 'old-key' }))).toMatchObject({ ok: true });
    expect(issuer.fetches()).toBe(1);
    const rotated = await issuer.addKey('ES256', { kid: 'rotated-2026' });
    const facts = await verify(verifier, await issuer.sign({ device_id: 'new-key' }, { kid: rotated.kid }));
    expect(facts).toMatchObject({ ok: true, claims: { device_id: 'new-key' } });
    expect(issuer.fetches()).toBe(2);
  });

  it('within the refetch cooldown (30 s by default) a token with an unknown kid is refused, not waited for', async () => {
    const issuer = await issuerForTest();
    const { verifier } = verifierFor(issuer.jwksUrl, issuer);
    expect(await verify(verifier, await issuer.sign({ device_id: 'old-key' }))).toMatchObject({ ok: true });
    const rotated = await issuer.addKey('ES256', { kid: 'rotated-too-soon' });
    const facts = await verify(verifier, await issuer.sign({ device_id: 'new-key' }, { kid: rotated.kid }));
    expect(facts).toMatchObject({ ok: false, code: 'posture-invalid', reason: expect.stringMatching(/not among the configured keys/) });
    expect(issuer.fetches()).toBe(1);
  });

  it('a token signed with a key the JWKS does not publish is refused', async () => {
    const issuer = await issuerForTest();
    const unpublished = await issuer.addKey('ES256', { kid: 'unpublished', publish: false });
    const { verifier } = verifierFor(issuer.jwksUrl, issuer, { jwks_cooldown: '0s' });
    expect(await verify(verifier, await issuer.sign({ device_id: 'd' }, { kid: unpublished.kid }))).toMatchObject({ ok: false, code: 'posture-invalid' });
    expect(await verify(verifier, await issuer.sign({ device_id: 'd' }, { kid: unpublished.kid, headerKid: issuer.keys[0]!.kid }))).toMatchObject({ ok: false, code: 'posture-invalid' });
  });

  it('a jku header pointing at an attacker\'s JWKS is refused, and that JWKS is never fetched', async () => {
    const issuer = await issuerForTest();
    const attacker = await issuerForTest();
    const { verifier } = verifierFor(issuer.jwksUrl, issuer);
    const token = await attacker.sign({ device_id: 'evil', managed: true, compliant: true }, { header: { jku: attacker.jwksUrl } });
    expect(await verify(verifier, token)).toMatchObject({ ok: false, code: 'posture-invalid', reason: expect.stringMatching(/"jku" header/) });
    expect(attacker.fetches()).toBe(0);
  });
});
