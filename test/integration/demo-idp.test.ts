// The demo identity provider, driven the way Portcullis drives it: openid-client
// over real HTTP on loopback, the login form filled in by test/helpers/idp.ts.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import * as client from 'openid-client';
import { createRemoteJWKSet, exportJWK, generateKeyPair, jwtVerify, type CryptoKey } from 'jose';
import { ACR_MFA, ACR_PASSWORD, DEMO_OTP, startDemoIdp, type DemoIdp } from '../../src/demo/idp.ts';
import { CookieJar, followProvider, loginWithForm, LoginRejected } from '../helpers/idp.ts';

interface RelyingParty {
  readonly url: string;
  readonly logoutTokens: string[];
  close(): Promise<void>;
}

/** Stands in for Portcullis: receives back-channel logout tokens. Redirects to it are never followed. */
async function startRelyingParty(): Promise<RelyingParty> {
  const logoutTokens: string[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/backchannel-logout') {
        const token = new URLSearchParams(Buffer.concat(chunks).toString()).get('logout_token');
        if (token) logoutTokens.push(token);
        res.writeHead(200).end();
        return;
      }
      res.writeHead(404).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    logoutTokens,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

let idp: DemoIdp;
let rp: RelyingParty;
let jwtClientKey: CryptoKey;

beforeAll(async () => {
  rp = await startRelyingParty();
  const keyPair = await generateKeyPair('ES256', { extractable: true });
  jwtClientKey = keyPair.privateKey;
  const publicJwk = { ...(await exportJWK(keyPair.publicKey)), alg: 'ES256', use: 'sig', kid: 'rp-key-1' };
  idp = await startDemoIdp({
    clients: [
      {
        client_id: 'web',
        client_name: 'Demo web app',
        client_secret: 'web-secret-that-is-long-enough',
        redirect_uris: [`${rp.url}/callback`],
        post_logout_redirect_uris: [`${rp.url}/signed-out`],
        backchannel_logout_uri: `${rp.url}/backchannel-logout`,
        backchannel_logout_session_required: true,
      },
      {
        client_id: 'post',
        client_secret: 'post-secret-that-is-long-enough',
        token_endpoint_auth_method: 'client_secret_post',
        redirect_uris: [`${rp.url}/callback`],
      },
      {
        client_id: 'jwt',
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: { keys: [publicJwk] },
        redirect_uris: [`${rp.url}/callback`],
      },
    ],
  });
});

afterAll(async () => {
  await idp?.close();
  await rp?.close();
});

async function configFor(clientId: string): Promise<client.Configuration> {
  const auth =
    clientId === 'web'
      ? client.ClientSecretBasic('web-secret-that-is-long-enough')
      : clientId === 'post'
        ? client.ClientSecretPost('post-secret-that-is-long-enough')
        : client.PrivateKeyJwt(jwtClientKey);
  // Plain http is allowed for the loopback demo provider only.
  return client.discovery(new URL(idp.issuer), clientId, undefined, auth, { execute: [client.allowInsecureRequests] });
}

interface SignIn {
  username: string;
  password?: string;
  otp?: string;
  jar?: CookieJar;
  params?: Record<string, string>;
}

async function authorizationUrl(config: client.Configuration, params: Record<string, string> = {}) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: `${rp.url}/callback`,
    scope: 'openid email profile groups',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...params,
  });
  return { url, checks: { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true } };
}

async function signIn(config: client.Configuration, { username, password, otp, jar, params }: SignIn) {
  const { url, checks } = await authorizationUrl(config, params);
  const callback = await loginWithForm(url, {
    username,
    password: password ?? `${username}-demo`,
    ...(otp === undefined ? {} : { otp }),
    ...(jar === undefined ? {} : { cookieJar: jar }),
  });
  return client.authorizationCodeGrant(config, callback, checks);
}

async function expectInvalidGrant(promise: Promise<unknown>): Promise<void> {
  await expect(promise).rejects.toMatchObject({ error: 'invalid_grant' });
}

describe('discovery', () => {
  it('publishes the exact loopback issuer with the demo ACRs, groups and logout endpoints', async () => {
    expect(idp.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const metadata = (await configFor('web')).serverMetadata();
    expect(metadata.issuer).toBe(idp.issuer);
    expect(metadata.acr_values_supported).toEqual([ACR_PASSWORD, ACR_MFA]);
    expect(metadata.claims_supported).toEqual(expect.arrayContaining(['email', 'email_verified', 'name', 'groups', 'acr', 'amr']));
    expect(metadata.end_session_endpoint).toBe(`${idp.issuer}/session/end`);
    expect(metadata.backchannel_logout_supported).toBe(true);
    expect(metadata.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(['client_secret_basic', 'client_secret_post', 'private_key_jwt']));
  });
});

describe('signing in with the login form', () => {
  it('gives an ID token with email, groups, acr, amr, auth_time and sid after a code + PKCE login', async () => {
    const config = await configFor('web');
    const tokens = await signIn(config, { username: 'alice' });
    const claims = tokens.claims()!;
    expect(claims).toMatchObject({
      iss: idp.issuer,
      aud: 'web',
      sub: 'alice',
      email: 'alice@example.com',
      email_verified: true,
      name: 'Alice Anders',
      groups: ['engineering', 'admins'],
      acr: ACR_PASSWORD,
      amr: ['pwd'],
    });
    expect(claims.auth_time).toBeTypeOf('number');
    expect(claims.sid).toBeTypeOf('string');

    const userinfo = await client.fetchUserInfo(config, tokens.access_token, 'alice');
    expect(userinfo).toMatchObject({ sub: 'alice', email: 'alice@example.com', groups: ['engineering', 'admins'] });
  });

  it('gives the MFA level when the one-time code is entered too', async () => {
    const tokens = await signIn(await configFor('web'), { username: 'bob', otp: DEMO_OTP });
    expect(tokens.claims()).toMatchObject({ sub: 'bob', groups: ['finance'], acr: ACR_MFA, amr: ['pwd', 'otp', 'mfa'] });
  });

  it('reports an unverified email as such', async () => {
    const tokens = await signIn(await configFor('web'), { username: 'mallory' });
    expect(tokens.claims()).toMatchObject({ sub: 'mallory', email: 'mallory@example.com', email_verified: false });
  });

  it('refuses a wrong password, a wrong code, and a code for a user without MFA', async () => {
    const config = await configFor('web');
    const { url } = await authorizationUrl(config);
    await expect(loginWithForm(url, { username: 'alice', password: 'nope' })).rejects.toBeInstanceOf(LoginRejected);
    await expect(loginWithForm(url, { username: 'alice', password: 'alice-demo', otp: '000000' })).rejects.toThrow(/code is not valid/);
    await expect(loginWithForm(url, { username: 'carol', password: 'carol-demo', otp: DEMO_OTP })).rejects.toThrow(/no second factor/);
  });

  it('sends the person back with access_denied when they cancel', async () => {
    const config = await configFor('web');
    const { url, checks } = await authorizationUrl(config);
    const jar = new CookieJar();
    const loginPage = await request(url, { headers: { accept: 'text/html' } });
    jar.store(url, loginPage.headers['set-cookie']);
    const interaction = new URL(String(loginPage.headers.location), url);
    await loginPage.body.dump();
    const callback = await followProvider(new URL(`${interaction.pathname}/abort`, interaction), jar);
    expect(callback.searchParams.get('error')).toBe('access_denied');
    await expect(client.authorizationCodeGrant(config, callback, checks)).rejects.toMatchObject({ error: 'access_denied' });
  });

  it('does not ask again while the provider session lasts (single sign-on)', async () => {
    const config = await configFor('web');
    const jar = new CookieJar();
    const first = await signIn(config, { username: 'carol', jar });
    const { url, checks } = await authorizationUrl(config);
    const second = await client.authorizationCodeGrant(config, await followProvider(url, jar), checks);
    expect(second.claims()).toMatchObject({ sub: 'carol', sid: first.claims()!.sid, auth_time: first.claims()!.auth_time });
  });
});

describe('step-up and re-authentication', () => {
  it('asks a password-level session for the one-time code when acr_values demands MFA, then issues the MFA level', async () => {
    const config = await configFor('web');
    const jar = new CookieJar();
    const first = await signIn(config, { username: 'alice', jar });
    expect(first.claims()!.acr).toBe(ACR_PASSWORD);

    const stepUp = { acr_values: ACR_MFA };
    const { url } = await authorizationUrl(config, stepUp);
    await expect(followProvider(url, jar)).rejects.toThrow(/asked for a login/);
    await expect(signIn(config, { username: 'alice', jar, params: stepUp })).rejects.toThrow(/requires a second factor/);

    const stepped = await signIn(config, { username: 'alice', otp: DEMO_OTP, jar, params: stepUp });
    expect(stepped.claims()).toMatchObject({ sub: 'alice', acr: ACR_MFA, amr: ['pwd', 'otp', 'mfa'], sid: first.claims()!.sid });
    expect(stepped.claims()!.auth_time).toBeGreaterThanOrEqual(first.claims()!.auth_time!);

    // The MFA session now satisfies the same request without asking.
    const again = await authorizationUrl(config, stepUp);
    const silent = await client.authorizationCodeGrant(config, await followProvider(again.url, jar), again.checks);
    expect(silent.claims()!.acr).toBe(ACR_MFA);
  });

  it('lets a user without MFA through at the password level, for the application to judge', async () => {
    const tokens = await signIn(await configFor('web'), { username: 'carol', params: { acr_values: ACR_MFA } });
    expect(tokens.claims()).toMatchObject({ sub: 'carol', acr: ACR_PASSWORD, amr: ['pwd'] });
  });

  it('asks again on prompt=login even with a live session', async () => {
    const config = await configFor('web');
    const jar = new CookieJar();
    await signIn(config, { username: 'bob', jar, otp: DEMO_OTP });
    const { url } = await authorizationUrl(config, { prompt: 'login' });
    await expect(followProvider(url, jar)).rejects.toThrow(/asked for a login/);
    const again = await signIn(config, { username: 'bob', jar, params: { prompt: 'login' } });
    expect(again.claims()).toMatchObject({ sub: 'bob', acr: ACR_PASSWORD, amr: ['pwd'] });
  });
});

describe('refresh tokens', () => {
  it('are issued without prompt=consent, rotate, keep acr and amr, and refuse reuse of a rotated token', async () => {
    const config = await configFor('web');
    const tokens = await signIn(config, { username: 'alice', otp: DEMO_OTP });
    expect(tokens.refresh_token).toBeTypeOf('string');

    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
    expect(refreshed.refresh_token).toBeTypeOf('string');
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    expect(refreshed.claims()).toMatchObject({ sub: 'alice', acr: ACR_MFA, amr: ['pwd', 'otp', 'mfa'], groups: ['engineering', 'admins'] });

    await expectInvalidGrant(client.refreshTokenGrant(config, tokens.refresh_token!));
  });

  it('fail with invalid_grant once the user is disabled, and the user cannot sign in again', async () => {
    const config = await configFor('web');
    const jar = new CookieJar();
    const tokens = await signIn(config, { username: 'bob', jar });
    idp.disableUser('bob');
    try {
      await expectInvalidGrant(client.refreshTokenGrant(config, tokens.refresh_token!));
      // Even with a live provider session, a disabled account is asked to sign in, and refused.
      const { url } = await authorizationUrl(config);
      await expect(followProvider(url, jar)).rejects.toThrow(/asked for a login/);
      await expect(signIn(config, { username: 'bob', jar })).rejects.toThrow(/disabled/);
    } finally {
      idp.enableUser('bob');
    }
    const after = await signIn(config, { username: 'bob' });
    expect(after.claims()!.sub).toBe('bob');
  });

  it('fail with invalid_grant after the account’s grants are revoked', async () => {
    const config = await configFor('post');
    const tokens = await signIn(config, { username: 'carol' });
    expect(await idp.revokeGrants('carol')).toBeGreaterThan(0);
    await expectInvalidGrant(client.refreshTokenGrant(config, tokens.refresh_token!));
  });
});

describe('client authentication', () => {
  it('accepts client_secret_post for a client registered with it, and refuses a wrong secret', async () => {
    const tokens = await signIn(await configFor('post'), { username: 'carol' });
    expect(tokens.claims()!.aud).toBe('post');

    const wrong = await client.discovery(new URL(idp.issuer), 'post', undefined, client.ClientSecretPost('not-the-registered-secret'), {
      execute: [client.allowInsecureRequests],
    });
    const { url, checks } = await authorizationUrl(wrong);
    const callback = await loginWithForm(url, { username: 'carol', password: 'carol-demo' });
    await expect(client.authorizationCodeGrant(wrong, callback, checks)).rejects.toMatchObject({ error: 'invalid_client' });
  });

  it('accepts private_key_jwt signed with the key whose public half is registered', async () => {
    const tokens = await signIn(await configFor('jwt'), { username: 'alice' });
    expect(tokens.claims()).toMatchObject({ aud: 'jwt', sub: 'alice' });
  });

  it('refuses private_key_jwt signed with another key', async () => {
    const stranger = await generateKeyPair('ES256');
    const config = await client.discovery(new URL(idp.issuer), 'jwt', undefined, client.PrivateKeyJwt(stranger.privateKey), {
      execute: [client.allowInsecureRequests],
    });
    const { url, checks } = await authorizationUrl(config);
    const callback = await loginWithForm(url, { username: 'alice', password: 'alice-demo' });
    await expect(client.authorizationCodeGrant(config, callback, checks)).rejects.toMatchObject({ error: 'invalid_client' });
  });
});

describe('logout', () => {
  it('RP-initiated logout skips the confirmation, delivers a back-channel logout token and redirects to post_logout_redirect_uri', async () => {
    const config = await configFor('web');
    const jar = new CookieJar();
    const tokens = await signIn(config, { username: 'alice', jar });
    const { sid } = tokens.claims()!;
    const before = rp.logoutTokens.length;

    const endSession = client.buildEndSessionUrl(config, {
      id_token_hint: tokens.id_token!,
      post_logout_redirect_uri: `${rp.url}/signed-out`,
      state: 'bye-123',
    });
    const landed = await followProvider(endSession, jar);
    expect(`${landed.origin}${landed.pathname}`).toBe(`${rp.url}/signed-out`);
    expect(landed.searchParams.get('state')).toBe('bye-123');

    // Delivery finishes before the provider redirects, so the token is already here.
    expect(rp.logoutTokens.length).toBe(before + 1);
    const jwks = createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri!));
    const { payload, protectedHeader } = await jwtVerify(rp.logoutTokens.at(-1)!, jwks, { issuer: idp.issuer, audience: 'web' });
    expect(protectedHeader.typ).toBe('logout+jwt');
    expect(payload.events).toEqual({ 'http://schemas.openid.net/event/backchannel-logout': {} });
    expect(payload).toMatchObject({ sub: 'alice', sid });
    expect(payload.nonce).toBeUndefined();

    // The session and its grant are gone: the refresh token dies and the next sign-in asks again.
    await expectInvalidGrant(client.refreshTokenGrant(config, tokens.refresh_token!));
    const { url } = await authorizationUrl(config);
    await expect(followProvider(url, jar)).rejects.toThrow(/asked for a login/);
  });

  it('RP-initiated logout without a provider session still lands on post_logout_redirect_uri', async () => {
    const config = await configFor('web');
    const tokens = await signIn(config, { username: 'carol' });
    const endSession = client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: `${rp.url}/signed-out`, state: 'no-session' });
    const landed = await followProvider(endSession, new CookieJar());
    expect(`${landed.origin}${landed.pathname}`).toBe(`${rp.url}/signed-out`);
    expect(landed.searchParams.get('state')).toBe('no-session');
  });

  it('a logout request that names no application shows a confirmation page in Portcullis style', async () => {
    const jar = new CookieJar();
    await signIn(await configFor('web'), { username: 'carol', jar });
    const url = `${idp.issuer}/session/end`;
    const res = await request(url, { headers: { cookie: jar.header(url)! } });
    const page = await res.body.text();
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-security-policy']).toContain("default-src 'none'");
    expect(page).toContain('Sign out?');
    expect(page).toContain('name="xsrf"');
    expect(page).not.toContain('<script');
  });
});

describe('the login page', () => {
  it('is marked evaluation-only, lists the demo users with passwords, groups and MFA, and runs no script', async () => {
    const config = await configFor('web');
    const { url } = await authorizationUrl(config);
    const jar = new CookieJar();
    const auth = await request(url, { headers: { accept: 'text/html' } });
    jar.store(url, auth.headers['set-cookie']);
    await auth.body.dump();
    const loginUrl = new URL(String(auth.headers.location), url);
    const res = await request(loginUrl, { headers: { cookie: jar.header(loginUrl)! } });
    const page = await res.body.text();

    expect(res.statusCode).toBe(200);
    expect(page).toContain('Evaluation only');
    expect(page).toContain('Demo web app');
    for (const user of idp.users) {
      expect(page).toContain(`<span class="mono">${user.id}</span>`);
      expect(page).toContain(`<code>${user.password}</code>`);
    }
    expect(page).toContain('engineering, admins');
    expect(page).toContain(`<code>${DEMO_OTP}</code>`);
    expect(page).not.toContain('<script');
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain('script-src');
    // The redirect chain after sign-in goes wherever the application sends it (Portcullis hands
    // sessions to other hosts), and browsers check each hop against form-action: none is set.
    expect(csp).not.toContain('form-action');
    expect(csp).toContain("default-src 'none'");
    expect(res.headers['x-frame-options']).toBe('DENY');

    const prefilled = await request(`${loginUrl.href}?as=carol`, { headers: { cookie: jar.header(loginUrl)! } });
    const prefilledPage = await prefilled.body.text();
    expect(prefilledPage).toContain('name="username" value="carol"');
    expect(prefilledPage).toContain('name="password" value="carol-demo"');
  });
});
