// Class 7: forged, altered, misused and oversized JWTs, in the two places Portcullis reads
// one from outside: the device-posture header and the back-channel logout_token.
// Posture failures must never satisfy a device rule; a logout_token that is not the
// provider's own, current and meant for us must end nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHmac, createPublicKey, randomUUID } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWTPayload } from 'jose';
import { get, raw, startTarget, adversarialRoutes, type Target } from './harness.ts';
import { createPostureIssuer, type PostureIssuer } from '../helpers/posture.ts';

let t: Target;
let mdm: PostureIssuer;
beforeAll(async () => {
  mdm = await createPostureIssuer({ algs: ['ES256', 'RS256'] });
  t = await startTarget({
    extra: `device_posture:
  jwks_url: ${mdm.jwksUrl}
  insecure_allow_http: true
  issuer: ${mdm.issuer}
  audience: ${mdm.audience}
  jwks_cooldown: 0s
  session_binding: false`,
    routes: `${adversarialRoutes}
  - name: device
    from: http://device.test
    to: \${UPSTREAM}
    policy: { allow: [ { authenticated: true, device: { managed: true } } ] }`,
  });
});
afterAll(async () => {
  await t?.stop();
  await mdm?.close();
});

const good = { sub: 'alice', device_id: 'laptop-1', managed: true };
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

function withPosture(token: string) {
  return get(t, '/device', [`X-Device-Posture: ${token}`], 'device.test');
}

async function expectRefused(token: string) {
  const r = await withPosture(token);
  expect(r.status).toBe(403);
  expect(r.upstream).toHaveLength(0);
}

/** Sign with HMAC by hand, as an attacker would, using a public key as the secret. */
function hmacToken(header: object, payload: object, secret: string | Buffer): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

const claims = () => ({ ...good, iss: mdm.issuer, aud: mdm.audience, iat: now(), exp: now() + 600 });

describe('the device-posture header', () => {
  it('the control: a genuine token for a managed device is accepted, and the header is not forwarded', async () => {
    const r = await withPosture(await mdm.sign(good));
    expect(r.status).toBe(200);
    expect(r.upstream[0]!.headers['x-device-posture']).toBeUndefined();
  });

  it('alg "none" (any spelling) is refused', async () => {
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      await expectRefused(`${b64({ alg, typ: 'JWT' })}.${b64(claims())}.`);
      await expectRefused(`${b64({ alg, typ: 'JWT', kid: mdm.keys[0]!.kid })}.${b64(claims())}.`);
    }
  });

  it('HS256 signed with the issuer\'s own public key (PEM or JWK) is refused', async () => {
    for (const key of mdm.keys) {
      const pem = createPublicKey({ key: key.publicJwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' }) as string;
      for (const secret of [pem, pem.trim(), JSON.stringify(key.publicJwk)]) {
        await expectRefused(hmacToken({ alg: 'HS256', typ: 'JWT', kid: key.kid }, claims(), secret));
      }
    }
  });

  it('a kid that names a path, an injection or another key does not pick the verification key', async () => {
    for (const kid of ['../../../../../dev/null', "x' OR '1'='1", '', '*', mdm.keys[1]!.kid]) {
      await expectRefused(await mdm.sign(good, { kid: mdm.keys[0]!.kid, headerKid: kid }));
    }
  });

  it('an attacker\'s key named by jku or x5u, or embedded as jwk, is never used', async () => {
    const attacker = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(attacker.publicKey)), kid: 'attacker' };
    for (const header of [{ jwk }, { jku: 'http://127.0.0.1:1/jwks.json' }, { x5u: 'http://127.0.0.1:1/cert.pem' }, { jwk, kid: 'attacker' }]) {
      const token = await new SignJWT(good).setProtectedHeader({ alg: 'ES256', ...header }).setIssuer(mdm.issuer).setAudience(mdm.audience).setIssuedAt().setExpirationTime('10m').sign(attacker.privateKey);
      await expectRefused(token);
    }
  });

  it('expired, not yet valid, issued in the future, of another issuer or for another audience: refused', async () => {
    const n = now();
    await expectRefused(await mdm.sign(good, { iat: n - 7200, exp: n - 3600 }));
    await expectRefused(await mdm.sign(good, { nbf: n + 3600 }));
    await expectRefused(await mdm.sign(good, { iat: n + 3600 }));
    await expectRefused(await mdm.sign(good, { issuer: 'https://evil.test' }));
    await expectRefused(await mdm.sign(good, { audience: 'another-service' }));
    await expectRefused(await mdm.sign(good, { iat: null }));
  });

  it('a token altered after signing (payload or signature) is refused', async () => {
    const [h, , s] = (await mdm.sign({ ...good, managed: false })).split('.');
    await expectRefused(`${h}.${b64(claims())}.${s}`);
    const genuine = await mdm.sign(good);
    await expectRefused(genuine.slice(0, -4) + (genuine.endsWith('AAAA') ? 'BBBB' : 'AAAA'));
  });

  it('posture naming another user is not alice\'s device', async () => {
    await expectRefused(await mdm.sign({ ...good, sub: 'bob' }));
  });

  it('an ID token from the identity provider is not a posture token', async () => {
    const jwk = t.env.idp.signingKeys.find((k) => k.alg === 'ES256')!;
    const idToken = await new SignJWT({ ...good, nonce: 'n', email: 'alice@example.com' })
      .setProtectedHeader({ alg: 'ES256', kid: jwk.kid! })
      .setIssuer(t.env.idp.issuer)
      .setAudience('portcullis')
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign((await importJWK(jwk, 'ES256')) as CryptoKey);
    await expectRefused(idToken);
  });

  it('a huge token is refused without harm (431 for the header block, or a refused token), and the proxy keeps serving', async () => {
    const pad = 'A'.repeat(20_000);
    const r = await withPosture(`${b64({ alg: 'ES256', kid: mdm.keys[0]!.kid })}.${pad}.${pad}`);
    expect([403, 431]).toContain(r.status);
    expect(r.upstream).toHaveLength(0);
    const big = await withPosture(await mdm.sign({ ...good, filler: 'x'.repeat(12_000) }));
    expect([200, 403, 431]).toContain(big.status);
    expect((await withPosture(await mdm.sign(good))).status).toBe(200);
  });

  it('a JWKS that answers garbage, 500 or not a key set fails verification (never skips it), and recovers', async () => {
    for (const mode of ['not-json', 'not-a-jwks', 'status-500'] as const) {
      const key = await mdm.addKey('ES256');
      mdm.setMode(mode);
      await expectRefused(await mdm.sign(good, { kid: key.kid }));
      mdm.setMode('serve');
      expect((await withPosture(await mdm.sign(good, { kid: key.kid }))).status).toBe(200);
    }
  });
});

describe('the back-channel logout_token', () => {
  const EVENT = 'http://schemas.openid.net/event/backchannel-logout';

  async function signedInSid(): Promise<{ cookie: string; sid: string | undefined }> {
    const browser = t.env.browser();
    await browser.signIn(t.env.appUrl('/'), { username: 'alice', password: 'alice-demo' });
    const cookie = `portcullis=${browser.jar.get('portcullis')}`;
    // The provider's sid (when it sends one) reaches the upstream inside the signed assertion;
    // without it the forged tokens name the user by sub, which a genuine token may do too.
    const probe = await raw(t, `GET /sid-probe HTTP/1.1\r\nHost: app.test\r\nCookie: ${cookie}\r\nConnection: close\r\n\r\n`);
    const assertion = String(probe.upstream[0]!.headers['x-portcullis-jwt-assertion']);
    const sid = (JSON.parse(Buffer.from(assertion.split('.')[1]!, 'base64url').toString()) as { sid?: string }).sid;
    return { cookie, sid };
  }

  function logoutClaims(sid: string | undefined, extra: JWTPayload = {}): JWTPayload {
    return { iss: t.env.idp.issuer, aud: 'portcullis', iat: now(), exp: now() + 120, jti: randomUUID(), ...(sid ? { sid } : {}), sub: 'alice', events: { [EVENT]: {} }, ...extra };
  }

  async function deliver(token: string): Promise<number> {
    const body = `logout_token=${encodeURIComponent(token)}`;
    const r = await raw(t, `POST /.portcullis/backchannel-logout HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    return r.status;
  }

  async function stillSignedIn(cookie: string): Promise<boolean> {
    const r = await raw(t, `GET /still HTTP/1.1\r\nHost: app.test\r\nCookie: ${cookie}\r\nAccept: application/json\r\nConnection: close\r\n\r\n`);
    return r.status === 200;
  }

  it('forged tokens (alg none, HMAC with the provider\'s public key, an embedded jwk, expired, another issuer, an ID token) end nothing', async () => {
    const victim = await signedInSid();
    const providerJwk = t.env.idp.signingKeys.find((k) => k.alg === 'ES256')!;
    const publicJwk = { kty: providerJwk.kty, crv: providerJwk.crv, x: providerJwk.x, y: providerJwk.y };
    const pem = createPublicKey({ key: publicJwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' }) as string;
    const attacker = await generateKeyPair('ES256', { extractable: true });
    const providerKey = (await importJWK(providerJwk, 'ES256')) as CryptoKey;
    const sign = (payload: JWTPayload, header: Record<string, unknown>, key: CryptoKey) => new SignJWT(payload).setProtectedHeader({ alg: 'ES256', ...header }).sign(key);
    const forged = [
      `${b64({ alg: 'none', typ: 'logout+jwt' })}.${b64(logoutClaims(victim.sid))}.`,
      hmacToken({ alg: 'HS256', kid: providerJwk.kid, typ: 'logout+jwt' }, logoutClaims(victim.sid), pem),
      hmacToken({ alg: 'HS256', kid: providerJwk.kid }, logoutClaims(victim.sid), JSON.stringify(publicJwk)),
      await sign(logoutClaims(victim.sid), { jwk: await exportJWK(attacker.publicKey), typ: 'logout+jwt' }, attacker.privateKey),
      await sign(logoutClaims(victim.sid), { kid: providerJwk.kid, jku: 'http://127.0.0.1:1/jwks' }, attacker.privateKey),
      await sign(logoutClaims(victim.sid, { iat: now() - 7200, exp: now() - 3600 }), { kid: providerJwk.kid, typ: 'logout+jwt' }, providerKey),
      await sign(logoutClaims(victim.sid, { iss: 'https://evil.test' }), { kid: providerJwk.kid, typ: 'logout+jwt' }, providerKey),
      // an ID token: a nonce and no logout event
      await sign({ iss: t.env.idp.issuer, aud: 'portcullis', iat: now(), exp: now() + 600, sub: 'alice', ...(victim.sid ? { sid: victim.sid } : {}), nonce: 'n-1' }, { kid: providerJwk.kid }, providerKey),
    ];
    for (const [i, token] of forged.entries()) expect(await deliver(token), `forged token #${i}`).toBe(400);
    expect(await stillSignedIn(victim.cookie)).toBe(true);
  });

  it('a huge logout_token body is refused and ends nothing', async () => {
    const victim = await signedInSid();
    const status = await deliver('A'.repeat(200_000));
    expect([400, 413]).toContain(status);
    expect(await stillSignedIn(victim.cookie)).toBe(true);
  });
});
