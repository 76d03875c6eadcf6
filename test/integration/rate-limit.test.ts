// Rate limits on one instance (counts in memory): per signed-in user on protected
// routes, per client address on public routes and on the sign-in endpoints (limited
// even without any configuration), a 429 that says when to come back, the metric
// and the audit line, WebSocket upgrades, and a reload that keeps the counts.
// Windows are an hour long, so nothing here depends on how fast the machine is.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'undici';
import { alice, bob, startLoginEnv, type LoginEnv } from '../helpers/login-env.ts';
import { loopbackAgent } from '../helpers/browser.ts';
import { metricValue, parseRawResponse, rawRequest } from '../helpers/servers.ts';
import { startWebSocketUpstream, type WebSocketUpstream } from '../helpers/websocket.ts';

let env: LoginEnv;
let ws: WebSocketUpstream;

beforeAll(async () => {
  ws = await startWebSocketUpstream();
  env = await startLoginEnv({
    // Loopback is a trusted proxy here, so each test can be its own client address through X-Forwarded-For.
    extra: 'trusted_proxies: [127.0.0.1]',
    routes: `
  - name: app
    from: http://app.test
    policy: { allow: [ { authenticated: true } ] }
    to: \${UPSTREAM}
    rate_limit: { requests: 3, per: 1h }
  - name: public
    from: http://public.test
    to: \${UPSTREAM}
    public: true
    rate_limit: { requests: 2, per: 1h }
  - name: unlimited
    from: http://unlimited.test
    to: \${UPSTREAM}
    public: true
  - name: chat
    from: http://chat.test
    to: ${ws.url}
    public: true
    websockets: true
    rate_limit: { requests: 1, per: 1h }`,
  });
});

afterAll(async () => {
  await env?.stop();
  await ws?.close();
});

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await request(url, { dispatcher: loopbackAgent, headers: { accept: 'application/json', ...headers } });
  const body = await res.body.text();
  return { status: res.statusCode, headers: res.headers, body };
}

function rateLimitLines(): Record<string, unknown>[] {
  return readFileSync(env.proxy.logFile, 'utf8')
    .split('\n')
    .filter((line) => line.includes('"type":"rate_limit"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

async function metrics(): Promise<string> {
  return (await fetch(`${env.proxy.opsUrl}/metrics`)).text();
}

describe('rate limits on a protected route', () => {
  it('lets a signed-in user make the configured number of requests, then answers 429 with Retry-After, per user', async () => {
    const browser = env.browser();
    const page = await browser.signIn(env.appUrl('/one'), alice);
    expect(page.status).toBe(200); // request 1 of 3

    expect((await browser.open(env.appUrl('/two'))).status).toBe(200);
    const third = await browser.fetch(env.appUrl('/three'), { headers: { accept: 'application/json' } });
    await third.body.dump();
    expect(third.statusCode).toBe(200);

    // Over the limit: JSON for an API client...
    const json = await browser.fetch(env.appUrl('/four'), { headers: { accept: 'application/json' } });
    expect(json.statusCode).toBe(429);
    const retryAfter = Number(json.headers['retry-after']);
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(3600);
    const body = (await json.body.json()) as { error: string; status: number; retry_after: number; request_id: string };
    expect(body).toMatchObject({ error: 'rate_limited', status: 429, retry_after: retryAfter });

    // ...and a page for a browser.
    const html = await browser.open(env.appUrl('/five'));
    expect(html.status).toBe(429);
    expect(String(html.headers['content-type'])).toContain('text/html');
    expect(html.headers['retry-after']).toBeDefined();
    expect(html.body).toContain('Too many requests');

    // The upstream saw exactly the three allowed requests.
    expect(env.upstream.received.filter((r) => /^\/(one|two|three|four|five)$/.test(r.url)).map((r) => r.url)).toEqual(['/one', '/two', '/three']);

    // Another user from the same address has an allowance of their own.
    const other = env.browser();
    expect((await other.signIn(env.appUrl('/bob'), bob)).status).toBe(200);
  });

  it('counts refusals in portcullis_rate_limited_total and writes one audit line per user and window', async () => {
    expect(metricValue(await metrics(), 'portcullis_rate_limited_total', { route: 'app', scope: 'user' })).toBe(2);
    const lines = rateLimitLines().filter((l) => l.route === 'app');
    // Two refusals, one line: only the first refusal in the window is audited.
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ type: 'rate_limit', route: 'app', key_kind: 'user', limit: 3, window_s: 3600, path: '/four' });
    expect(typeof lines[0]!.user).toBe('string');
    expect(lines[0]!.retry_after_s).toBeGreaterThan(0);
  });
});

describe('rate limits on a public route', () => {
  it('counts per client address: two requests, then 429, while another address still gets through', async () => {
    const client = { 'x-forwarded-for': '203.0.113.10' };
    expect((await get(`http://public.test:${env.port}/a`, client)).status).toBe(200);
    expect((await get(`http://public.test:${env.port}/b`, client)).status).toBe(200);
    const over = await get(`http://public.test:${env.port}/c`, client);
    expect(over.status).toBe(429);
    expect(Number(over.headers['retry-after'])).toBeGreaterThan(0);
    expect(JSON.parse(over.body)).toMatchObject({ error: 'rate_limited' });

    expect((await get(`http://public.test:${env.port}/a`, { 'x-forwarded-for': '203.0.113.11' })).status).toBe(200);
    expect(metricValue(await metrics(), 'portcullis_rate_limited_total', { route: 'public', scope: 'ip' })).toBe(1);
    expect(rateLimitLines().find((l) => l.route === 'public')).toMatchObject({ key_kind: 'ip', client_ip: '203.0.113.10', limit: 2, window_s: 3600 });
  });

  it('counts an IPv6 client per /64, since it can pick any address in it', async () => {
    expect((await get(`http://public.test:${env.port}/`, { 'x-forwarded-for': '2001:db8:5:6::1' })).status).toBe(200);
    expect((await get(`http://public.test:${env.port}/`, { 'x-forwarded-for': '2001:db8:5:6::2' })).status).toBe(200);
    expect((await get(`http://public.test:${env.port}/`, { 'x-forwarded-for': '2001:db8:5:6:ffff::3' })).status).toBe(429);
    expect((await get(`http://public.test:${env.port}/`, { 'x-forwarded-for': '2001:db8:5:7::1' })).status).toBe(200);
  });

  it('leaves a route without rate_limit unlimited', async () => {
    const client = { 'x-forwarded-for': '203.0.113.12' };
    for (let i = 0; i < 20; i++) expect((await get(`http://unlimited.test:${env.port}/`, client)).status).toBe(200);
  });

  it('counts a WebSocket upgrade as one request', async () => {
    const upgrade = `GET /socket HTTP/1.1\r\nHost: chat.test\r\nX-Forwarded-For: 203.0.113.13\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`;
    expect(parseRawResponse(await rawRequest(env.port, upgrade, 100)).status).toBe(101);
    const second = parseRawResponse(await rawRequest(env.port, upgrade, 100));
    expect(second.status).toBe(429);
    expect(Number(second.headers['retry-after'])).toBeGreaterThan(0);
    expect(JSON.parse(second.body)).toMatchObject({ error: 'rate_limited' });
    expect(ws.upgrades).toHaveLength(1);
  });
});

describe('rate limits on the sign-in endpoints', () => {
  it('are on without any configuration: 300 requests a minute per address, then 429', async () => {
    const client = { 'x-forwarded-for': '198.51.100.20' };
    const statuses: number[] = [];
    // A callback without state is refused quickly (400) and costs no identity provider round trip.
    for (let i = 0; i < 301; i++) statuses.push((await get(`${env.publicUrl}/.portcullis/callback?code=x&state=y`, client)).status);
    expect(statuses.slice(0, 300).every((s) => s !== 429)).toBe(true);
    expect(statuses[300]).toBe(429);
    // start and callback share one allowance
    const start = await get(`${env.publicUrl}/.portcullis/start`, client);
    expect(start.status).toBe(429);
    expect(Number(start.headers['retry-after'])).toBeGreaterThan(0);
    // another address can still sign in
    expect((await get(`${env.publicUrl}/.portcullis/start`, { 'x-forwarded-for': '198.51.100.21' })).status).toBe(302);
    expect(metricValue(await metrics(), 'portcullis_rate_limited_total', { route: '.portcullis', scope: 'ip' })).toBe(2);
    expect(rateLimitLines().find((l) => l.route === '.portcullis')).toMatchObject({ key_kind: 'ip', client_ip: '198.51.100.20', limit: 300, window_s: 60 });
  });
});

describe('a configuration reload', () => {
  it('keeps the counts of unchanged limits and applies changed ones', async () => {
    const before = readFileSync(env.proxy.configFile, 'utf8');
    const next = before.replace('rate_limit: { requests: 2, per: 1h }', 'rate_limit: { requests: 5, per: 1h }').replace('from: http://unlimited.test', 'from: http://unlimited.test\n    rate_limit: { requests: 1, per: 1h }');
    expect(next).not.toBe(before);
    writeFileSync(env.proxy.configFile, next);
    const result = await env.proxy.portcullis.reload();
    expect(result).toMatchObject({ ok: true });

    // The unlimited route now has a limit of one request.
    const client = { 'x-forwarded-for': '203.0.113.30' };
    expect((await get(`http://unlimited.test:${env.port}/`, client)).status).toBe(200);
    expect((await get(`http://unlimited.test:${env.port}/`, client)).status).toBe(429);
    // The unchanged WebSocket route still remembers its upgrade.
    const upgrade = `GET /socket HTTP/1.1\r\nHost: chat.test\r\nX-Forwarded-For: 203.0.113.13\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`;
    expect(parseRawResponse(await rawRequest(env.port, upgrade, 100)).status).toBe(429);
    // The raised public limit lets the refused address in again.
    expect((await get(`http://public.test:${env.port}/d`, { 'x-forwarded-for': '203.0.113.10' })).status).toBe(200);
  });
});
