// Zero-trust decisions through the running proxy: policies, device posture with real
// signed tokens, a copied cookie on another device, step-up to MFA at the real provider,
// shadow policies and the decision log.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { SignJWT, exportSPKI } from 'jose';
import { createSecretKey } from 'node:crypto';
import { request } from 'undici';
import { startLoginEnv, alice, bob, type LoginEnv } from '../helpers/login-env.ts';
import { loopbackAgent, type Browser } from '../helpers/browser.ts';
import { createPostureIssuer, type PostureIssuer } from '../helpers/posture.ts';
import { loginWithForm } from '../helpers/idp.ts';

let env: LoginEnv;
let mdm: PostureIssuer;
const carol = { username: 'carol', password: 'carol-demo' };
const mallory = { username: 'mallory', password: 'mallory-demo' };

beforeAll(async () => {
  mdm = await createPostureIssuer();
  env = await startLoginEnv({
    idpExtra: '  mfa_acr_values: [urn:portcullis:demo:mfa]',
    extra: `device_posture:
  jwks_url: ${mdm.jwksUrl}
  insecure_allow_http: true
  issuer: ${mdm.issuer}
  audience: ${mdm.audience}
  max_age: 10m
policies:
  staff:
    allow: [ { email_domains: [example.com] } ]
  managed-devices:
    allow: [ { authenticated: true, device: { managed: true, disk_encrypted: true } } ]
  admins-mfa:
    allow: [ { groups: [admins], mfa: true } ]`,
    routes: `
  - name: app
    from: http://app.test
    to: \${UPSTREAM}
    policy: staff
    shadow_policy: admins-mfa
  - name: device
    from: http://device.test
    to: \${UPSTREAM}
    policy: managed-devices
  - name: admin
    from: http://admin.test
    to: \${UPSTREAM}
    policy: admins-mfa
  - name: mfa
    from: http://mfa.test
    to: \${UPSTREAM}
    policy: { allow: [ { mfa: true } ] }
  - name: plain
    from: http://plain.test
    to: \${UPSTREAM}
    policy: staff`,
  });
});
afterAll(async () => {
  await env?.stop();
  await mdm?.close();
});

const url = (host: string, path = '/') => `http://${host}.test:${env.port}${path}`;

async function as(browser: Browser, target: string, headers: Record<string, string> = {}, accept = 'application/json') {
  const u = new URL(target);
  const res = await request(u, { dispatcher: loopbackAgent, headers: { accept, cookie: browser.jar.header(u) ?? '', ...headers } });
  const text = await res.body.text();
  return { status: res.statusCode, text, json: () => JSON.parse(text) as { error: string; reasons: { code: string; message: string }[]; headers?: Record<string, string> } };
}

function decisions(): Record<string, unknown>[] {
  return readFileSync(env.proxy.logFile, 'utf8')
    .split('\n')
    .filter((l) => l.includes('"type":"decision"'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('policies through the proxy', () => {
  it('lets in a verified example.com user and refuses others with reasons, as JSON and as a page', async () => {
    const a = env.browser();
    expect((await a.signIn(url('app', '/in'), alice)).status).toBe(200);

    const c = env.browser();
    const page = await c.signIn(url('app', '/in'), carol);
    expect(page.status).toBe(403);
    expect(page.body).toContain("You can't open this app right now");
    expect(page.body).toContain('Ask the owner of this app');
    const json = (await as(c, url('app', '/in'))).json();
    expect(json.error).toBe('access_denied');
    expect(json.reasons.map((r) => r.code)).toContain('email-domain-unauthorized');

    // an unverified email never satisfies email_domains, whatever its domain
    const m = env.browser();
    expect((await m.signIn(url('app', '/in'), mallory)).status).toBe(403);
    expect((await as(m, url('app', '/in'))).json().reasons.map((r) => r.code)).toContain('email-unverified');
  });

  it('logs every decision with who, where, the policy, the reasons and what the shadow policy would have done', async () => {
    const b = env.browser();
    await b.signIn(url('app', '/shadow-check'), bob);
    const line = decisions().find((d) => d.path === '/shadow-check' && d.user === 'bob');
    expect(line).toMatchObject({ route: 'app', policy: 'staff', decision: 'allow', email: 'bob@example.com', client_ip: '127.0.0.1' });
    expect(line!.shadow).toMatchObject({ policy: 'admins-mfa', decision: 'deny', would: 'deny' });
    expect(JSON.stringify(line)).not.toMatch(/eyJ|portcullis=/); // no token or cookie
  });

  it('requests in flight together: each one’s decision and access lines carry the id its response has', async () => {
    const a = env.browser();
    await a.signIn(url('plain', '/in'), alice);
    const ids = await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const u = new URL(url('plain', `/together-${i}`));
        const res = await request(u, { dispatcher: loopbackAgent, headers: { accept: 'application/json', cookie: a.jar.header(u) ?? '' } });
        await res.body.dump();
        expect(res.statusCode).toBe(200);
        return [`/together-${i}`, res.headers['x-request-id'] as string] as const;
      }),
    );
    const read = () =>
      readFileSync(env.proxy.logFile, 'utf8')
        .split('\n')
        .filter((l) => l.includes('/together-'))
        .map((l) => JSON.parse(l) as { type: string; path: string; request_id: string });
    // The log is written in batches: wait for all 24 lines.
    for (let waited = 0; read().length < 24 && waited < 5000; waited += 50) await new Promise((r) => setTimeout(r, 50));
    const lines = read();
    for (const [path, id] of ids) {
      expect(lines.filter((l) => l.path === path).map((l) => `${l.type} ${l.request_id}`).sort()).toEqual([`access ${id}`, `decision ${id}`]);
    }
  });
});

describe('device posture through the proxy', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = env.browser();
    await browser.signIn(url('app', '/'), alice);
    await browser.open(url('device', '/')); // the session reaches device.test through the hand-off
  });
  const good = { sub: 'alice', device_id: 'laptop-1', managed: true, disk_encrypted: true };

  it('allows a managed, encrypted device with a valid signed posture, and the upstream never sees the posture header', async () => {
    const token = await mdm.sign(good);
    const res = await as(browser, url('device', '/p'), { 'x-device-posture': token });
    expect(res.status).toBe(200);
    const echoed = JSON.parse(res.text) as { headers: Record<string, string> };
    expect(echoed.headers['x-device-posture']).toBeUndefined();
    expect(echoed.headers['x-forwarded-user']).toBe('alice');
  });

  it.each([
    ['no posture at all', async () => undefined, 'device-unknown'],
    ['disk encryption off', async () => mdm.sign({ ...good, disk_encrypted: false }), 'device-disk-unencrypted'],
    ['an expired token', async () => mdm.sign(good, { exp: Math.floor(Date.now() / 1000) - 60, iat: Math.floor(Date.now() / 1000) - 120 }), 'device-unknown'],
    ['stale posture (older than max_age)', async () => mdm.sign(good, { iat: Math.floor(Date.now() / 1000) - 3600, exp: Math.floor(Date.now() / 1000) + 600 }), 'device-unknown'],
    ['the wrong audience', async () => mdm.sign(good, { audience: 'someone-else' }), 'device-unknown'],
    ['another user\u2019s posture', async () => mdm.sign({ ...good, sub: 'bob' }), 'device-unknown'],
    ['alg none', async () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...good, iss: mdm.issuer, aud: mdm.audience, iat: now(), exp: now() + 600 })}.`, 'device-unknown'],
    [
      'HS256 signed with the public key as the secret',
      async () => {
        const pem = await exportSPKI(mdm.keys[0]!.publicKey);
        return new SignJWT({ ...good }).setProtectedHeader({ alg: 'HS256', kid: mdm.keys[0]!.kid }).setIssuer(mdm.issuer).setAudience(mdm.audience).setIssuedAt().setExpirationTime('5m').sign(createSecretKey(Buffer.from(pem)));
      },
      'device-unknown',
    ],
    [
      'a key the device-trust service never published',
      async () => {
        const k = await mdm.addKey('ES256', { publish: false });
        return mdm.sign(good, { kid: k.kid });
      },
      'device-unknown',
    ],
  ])('refuses %s', async (_name, token, code) => {
    const t = await token();
    const res = await as(browser, url('device', '/p'), t ? { 'x-device-posture': t } : {});
    expect(res.status).toBe(403);
    expect(res.json().reasons.map((r) => r.code)).toContain(code);
  });

  it('refuses a session arriving from a second device, because a copied cookie must not travel', async () => {
    const b = env.browser();
    await b.signIn(url('app', '/'), alice);
    await b.open(url('device', '/'));
    expect((await as(b, url('device', '/one'), { 'x-device-posture': await mdm.sign({ ...good, device_id: 'first-laptop' }) })).status).toBe(200);
    const other = await as(b, url('device', '/two'), { 'x-device-posture': await mdm.sign({ ...good, device_id: 'someone-elses-laptop' }) });
    expect(other.status).toBe(403);
    expect(other.json().reasons.map((r) => r.code)).toContain('device-session-mismatch');
    // the first device still works
    expect((await as(b, url('device', '/three'), { 'x-device-posture': await mdm.sign({ ...good, device_id: 'first-laptop' }) })).status).toBe(200);
  });
});

describe('step-up to multi-factor sign-in', () => {
  it('sends a password-only session back to the provider for MFA and lets it in with the proven level', async () => {
    const b = env.browser();
    expect((await b.signIn(url('app', '/'), alice)).status).toBe(200); // password only
    // the admin route needs MFA: a browser is sent to sign in again, asking the provider for it
    const atIdp = await b.open(url('admin', '/console'));
    expect(atIdp.url.origin).toBe(env.idp.issuer);
    const start = atIdp.trail.findLast((u) => u.pathname === '/.portcullis/start')!;
    expect(start.searchParams.get('acr')).toBe('urn:portcullis:demo:mfa');
    expect(atIdp.url.searchParams.get('acr_values')).toBe('urn:portcullis:demo:mfa');
    expect(atIdp.url.searchParams.get('prompt')).toBe('login');
    const callback = await loginWithForm(atIdp.url, { ...alice, otp: '123456' });
    const page = await b.open(callback);
    expect(page.status).toBe(200);
    expect(page.url.toString()).toBe(url('admin', '/console'));
    const info = await as(b, url('admin', '/.portcullis/userinfo'));
    expect(JSON.parse(info.text).amr).toEqual(expect.arrayContaining(['mfa']));
  });

  it('refuses without a step-up when no sign-in could help (not in the group)', async () => {
    const b = env.browser();
    await b.signIn(url('app', '/'), bob); // bob has MFA enrolled but signs in with a password first
    const atIdp = await b.open(url('admin', '/x'));
    // bob is not an admin, so no sign-in could help: plain 403, no step-up
    expect(atIdp.status).toBe(403);
    expect(atIdp.trail.some((u) => u.origin === env.idp.issuer)).toBe(false);
    expect((await as(b, url('admin', '/x'))).json().reasons.map((r) => r.code)).toContain('groups-unauthorized');
  });
});

describe('a step-up that cannot deliver', () => {
  it('refuses with a clear page instead of sending the browser round in circles', async () => {
    const b = env.browser();
    const atIdp = await b.open(url('mfa', '/'));
    // carol has no second factor: the provider signs her in with a password only
    const callback = await loginWithForm(atIdp.url, carol);
    const afterFirst = await b.open(callback);
    // the password-only session is sent to step up once...
    expect(afterFirst.url.origin).toBe(env.idp.issuer);
    const again = await loginWithForm(afterFirst.url, carol);
    const final = await b.open(again);
    // ...and when the new sign-in still has no MFA, Portcullis says so instead of looping
    expect(final.status).toBe(403);
    expect((await as(b, url('mfa', '/'))).json().reasons.map((r) => r.code)).toContain('mfa-required');
  });
});

function now() {
  return Math.floor(Date.now() / 1000);
}
function b64(o: unknown) {
  return Buffer.from(JSON.stringify(o)).toString('base64url');
}
