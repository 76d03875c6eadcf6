// The `country` criterion with a MaxMind-format database through the running proxy:
// the client address comes from X-Forwarded-For only when the peer is a trusted proxy,
// so a client behind one is placed correctly, and a client talking to Portcullis
// directly cannot choose its country by sending the header itself.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { startLoginEnv, alice, type LoginEnv } from '../helpers/login-env.ts';
import { loopbackAgent, type Browser } from '../helpers/browser.ts';
import { writeMmdb, type MmdbNetwork } from '../helpers/mmdb.ts';

const GERMANY = '81.2.69.142';
const NORTH_KOREA = '175.45.176.9';
const RELOADED = '62.4.1.1'; // Austria, until the database is replaced

function countryDb(overrides: Record<string, string> = {}): Buffer {
  const networks: Record<string, string> = { '81.2.69.0/24': 'DE', '175.45.176.0/22': 'KP', '62.4.0.0/16': 'AT', ...overrides };
  return writeMmdb(Object.entries(networks).map(([cidr, code]): MmdbNetwork => ({ cidr, data: { country: { iso_code: code } } })));
}

const dbFile = join(mkdtempSync(join(tmpdir(), 'portcullis-geo-')), 'country.mmdb');
writeFileSync(dbFile, countryDb());

const routes = `
  - name: app
    from: http://app.test
    to: \${UPSTREAM}
    policy: { allow: [ { authenticated: true } ], deny: [ { country: [KP] } ] }
  - name: de
    from: http://de.test
    to: \${UPSTREAM}
    policy: { allow: [ { country: [DE] } ] }`;

function geoEnv(trustedProxies: boolean): Promise<LoginEnv> {
  return startLoginEnv({
    extra: `${trustedProxies ? 'trusted_proxies: [127.0.0.1]\n' : ''}geo:
  country_header: CF-IPCountry
  database: ${dbFile}`,
    routes,
  });
}

async function as(env: LoginEnv, browser: Browser, host: string, path: string, headers: Record<string, string> = {}) {
  const u = new URL(`http://${host}.test:${env.port}${path}`);
  const res = await request(u, { dispatcher: loopbackAgent, headers: { accept: 'application/json', cookie: browser.jar.header(u) ?? '', ...headers } });
  const text = await res.body.text();
  const codes = res.statusCode === 403 ? (JSON.parse(text) as { reasons: { code: string }[] }).reasons.map((r) => r.code) : [];
  return { status: res.statusCode, codes };
}

function decision(env: LoginEnv, path: string): Record<string, unknown> | undefined {
  return readFileSync(env.proxy.logFile, 'utf8')
    .split('\n')
    .filter((l) => l.includes('"type":"decision"'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((d) => d.path === path);
}

describe('behind a trusted proxy, the country comes from the geo database', () => {
  let env: LoginEnv;
  let browser: Browser;
  beforeAll(async () => {
    env = await geoEnv(true);
    browser = env.browser();
    // Signed in without X-Forwarded-For: the peer 127.0.0.1 has no country, so both refuse.
    // (Sessions are per host here: the login env sets no cookie domain.)
    expect((await browser.signIn(`http://de.test:${env.port}/`, alice)).status).toBe(403);
    expect((await browser.signIn(`http://app.test:${env.port}/`, alice)).status).toBe(403);
  });
  afterAll(async () => {
    await env?.stop();
  });

  it('lets in a client from an allowed country and refuses one from a denied country, saying why', async () => {
    expect(await as(env, browser, 'app', '/', { 'x-forwarded-for': GERMANY })).toEqual({ status: 200, codes: [] });
    expect(await as(env, browser, 'de', '/', { 'x-forwarded-for': GERMANY })).toEqual({ status: 200, codes: [] });

    const denied = await as(env, browser, 'app', '/', { 'x-forwarded-for': NORTH_KOREA });
    expect(denied.status).toBe(403);
    expect(denied.codes).toContain('country-denied');
    const notListed = await as(env, browser, 'de', '/', { 'x-forwarded-for': NORTH_KOREA });
    expect(notListed.status).toBe(403);
    expect(notListed.codes).toContain('country-unauthorized');
  });

  it('logs the country with each decision', async () => {
    await as(env, browser, 'app', '/from-germany', { 'x-forwarded-for': GERMANY });
    expect(decision(env, '/from-germany')).toMatchObject({ decision: 'allow', client_ip: GERMANY, country: 'DE' });
  });

  it('gives a private address no country, so a country deny rule fails closed', async () => {
    const res = await as(env, browser, 'app', '/private', { 'x-forwarded-for': '10.1.2.3' });
    expect(res.status).toBe(403);
    expect(decision(env, '/private')).toMatchObject({ decision: 'deny', client_ip: '10.1.2.3' });
    expect(decision(env, '/private')!.country).toBeUndefined();
    expect((await as(env, browser, 'de', '/', { 'x-forwarded-for': '10.1.2.3' })).codes).toContain('country-unknown');
  });

  it("takes the trusted proxy's country header over the database", async () => {
    expect((await as(env, browser, 'app', '/', { 'x-forwarded-for': NORTH_KOREA, 'cf-ipcountry': 'DE' })).status).toBe(200);
    expect((await as(env, browser, 'de', '/', { 'x-forwarded-for': NORTH_KOREA, 'cf-ipcountry': 'de' })).status).toBe(200);
    // "XX" (the CDN does not know) falls back to the database
    expect((await as(env, browser, 'app', '/', { 'x-forwarded-for': NORTH_KOREA, 'cf-ipcountry': 'XX' })).status).toBe(403);
  });

  it('picks up a replaced database file on reload, with the configuration file unchanged', async () => {
    expect((await as(env, browser, 'app', '/', { 'x-forwarded-for': RELOADED })).status).toBe(200);
    writeFileSync(`${dbFile}.new`, countryDb({ '62.4.0.0/16': 'KP' }));
    renameSync(`${dbFile}.new`, dbFile); // replace atomically, as a database updater should
    expect(await env.proxy.portcullis.reload()).toMatchObject({ ok: true });
    const after = await as(env, browser, 'app', '/', { 'x-forwarded-for': RELOADED });
    expect(after.status).toBe(403);
    expect(after.codes).toContain('country-denied');
  });
});

describe('without a trusted proxy, a client cannot choose its country', () => {
  let env: LoginEnv;
  let browser: Browser;
  beforeAll(async () => {
    writeFileSync(dbFile, countryDb());
    env = await geoEnv(false);
    browser = env.browser();
    await browser.signIn(`http://de.test:${env.port}/`, alice);
  });
  afterAll(async () => {
    await env?.stop();
  });

  it('ignores X-Forwarded-For and the country header from an untrusted peer; 127.0.0.1 has no country', async () => {
    const res = await as(env, browser, 'de', '/spoofed', { 'x-forwarded-for': GERMANY, 'cf-ipcountry': 'DE' });
    expect(res.status).toBe(403);
    expect(res.codes).toContain('country-unknown');
    const line = decision(env, '/spoofed');
    expect(line).toMatchObject({ decision: 'deny', client_ip: '127.0.0.1' });
    expect(line!.country).toBeUndefined();
  });
});
