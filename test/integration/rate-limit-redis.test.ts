// Rate limits shared through Redis: two Portcullis instances on one Redis count
// against the same numbers, per user and per address, under redis.key_prefix with
// hashed keys in a Cluster hash tag.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { request } from 'undici';
import { startDemoIdp, type DemoIdp } from '../../src/demo/idp.ts';
import { Browser, loopbackAgent } from '../helpers/browser.ts';
import { alice, freePorts } from '../helpers/login-env.ts';
import { SHARED_REDIS_URL, deleteKeysWithPrefix, keysWithPrefix, uniquePrefix } from '../helpers/redis.ts';
import { metricValue, startProxy, startUpstream, type Running, type Upstream } from '../helpers/servers.ts';

const prefix = uniquePrefix('ratelimit');
let idp: DemoIdp;
let upstream: Upstream;
let a: Running;
let b: Running;

beforeAll(async () => {
  const ports = await freePorts(2);
  const publicUrl = `http://127.0.0.1:${ports[0]}`;
  const clientSecret = randomBytes(16).toString('hex');
  idp = await startDemoIdp({
    clients: [{ client_id: 'portcullis', client_secret: clientSecret, redirect_uris: [`${publicUrl}/.portcullis/callback`] }],
    log: { warn: () => {}, error: () => {} },
  });
  upstream = await startUpstream();
  const yaml = `listen: { address: "127.0.0.1:\${PORTCULLIS_PORT}" }
ops: { address: "127.0.0.1:0" }
public_url: ${publicUrl}
trusted_proxies: [127.0.0.1]
identity_provider: { issuer: ${idp.issuer}, client_id: portcullis, client_secret: ${clientSecret}, insecure_allow_http: true }
cookie: { secret: ${randomBytes(32).toString('base64url')}, insecure_allow_http: true }
session: { store: redis }
redis: { url: "${SHARED_REDIS_URL}", key_prefix: "${prefix}" }
routes:
  - name: app
    from: http://app.test
    policy: { allow: [ { authenticated: true } ] }
    to: ${upstream.url}
    rate_limit: { requests: 4, per: 1h }
  - name: public
    from: http://public.test
    to: ${upstream.url}
    public: true
    rate_limit: { requests: 3, per: 1h }
`;
  [a, b] = (await Promise.all(ports.map((port) => startProxy(yaml, { env: { ...process.env, PORTCULLIS_PORT: String(port) } })))) as [Running, Running];
  for (const instance of [a, b]) {
    for (let i = 0; i < 100 && (await fetch(`${instance.opsUrl}/readyz`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 50));
  }
});

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await upstream?.close();
  await idp?.close();
  await deleteKeysWithPrefix(prefix);
});

async function status(url: string, headers: Record<string, string>): Promise<number> {
  const res = await request(url, { dispatcher: loopbackAgent, headers: { accept: 'application/json', ...headers } });
  await res.body.dump();
  return res.statusCode;
}

describe('rate limits shared by two instances through Redis', () => {
  it('counts a public route per address across both instances', async () => {
    const client = { 'x-forwarded-for': '203.0.113.50' };
    const statuses = [
      await status(`http://public.test:${a.port}/1`, client),
      await status(`http://public.test:${b.port}/2`, client),
      await status(`http://public.test:${a.port}/3`, client),
      await status(`http://public.test:${b.port}/4`, client),
      await status(`http://public.test:${a.port}/5`, client),
    ];
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    const refused = (await Promise.all([a, b].map(async (i) => metricValue(await (await fetch(`${i.opsUrl}/metrics`)).text(), 'portcullis_rate_limited_total', { route: 'public', scope: 'ip' })))).reduce((x, y) => x + y);
    expect(refused).toBe(2);
  });

  it('counts a signed-in user across both instances', async () => {
    const browser = new Browser(idp.issuer);
    expect((await browser.signIn(`http://app.test:${a.port}/`, alice)).status).toBe(200); // 1 of 4
    const cookie = browser.jar.header(new URL(`http://app.test:${a.port}/`))!;
    const statuses = [
      await status(`http://app.test:${b.port}/`, { cookie }),
      await status(`http://app.test:${a.port}/`, { cookie }),
      await status(`http://app.test:${b.port}/`, { cookie }),
      await status(`http://app.test:${a.port}/`, { cookie }),
      await status(`http://app.test:${b.port}/`, { cookie }),
    ];
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
  });

  it('keeps its keys under redis.key_prefix, hashed and in a hash tag, with no address or user in them', async () => {
    const client = new Redis(SHARED_REDIS_URL);
    try {
      const keys = await keysWithPrefix(client, `${prefix}rl:`);
      expect(keys.length).toBeGreaterThanOrEqual(3); // public, app, login
      for (const key of keys) {
        expect(key).toMatch(new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}rl:(route:[A-Za-z0-9._-]+|login):\\{[A-Za-z0-9_-]{22}\\}$`));
        expect(key).not.toContain('203.0.113.50');
        expect(key).not.toContain('alice');
      }
      expect(keys.some((k) => k.startsWith(`${prefix}rl:route:app:`))).toBe(true);
      expect(keys.some((k) => k.startsWith(`${prefix}rl:login:`))).toBe(true);
    } finally {
      client.disconnect();
    }
  });

  it('keeps counting in Redis after a reload that changes the limit', async () => {
    const yaml = readFileSync(a.configFile, 'utf8');
    writeFileSync(a.configFile, yaml.replace('rate_limit: { requests: 3, per: 1h }', 'rate_limit: { requests: 4, per: 1h }'));
    const result = await a.portcullis.reload();
    expect(result).toMatchObject({ ok: true });
    expect(a.portcullis.config().routes.find((r) => r.name === 'public')?.rateLimit?.requests).toBe(4);
    // The keys depend on the route name only: the five requests counted before still count.
    expect(await status(`http://public.test:${a.port}/6`, { 'x-forwarded-for': '203.0.113.50' })).toBe(429);
    expect(await status(`http://public.test:${b.port}/7`, { 'x-forwarded-for': '203.0.113.50' })).toBe(429);
  });
});
