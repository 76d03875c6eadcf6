// Sessions in a real Redis, through Portcullis: sign in, survive a Portcullis restart,
// and fail closed while Redis is away (protected routes 503, public routes fine),
// then recover by themselves.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { request } from 'undici';
import { startLoginEnv, alice, type LoginEnv } from '../helpers/login-env.ts';
import { loopbackAgent } from '../helpers/browser.ts';
import { startPrivateRedis, type PrivateRedis } from '../helpers/redis.ts';

let redis: PrivateRedis;
let env: LoginEnv;

beforeAll(async () => {
  redis = await startPrivateRedis();
  env = await startLoginEnv({
    extra: `session: { store: redis }
redis: { url: "${redis.url}", command_timeout: 200ms, key_prefix: "it:" }`,
  });
});
afterAll(async () => {
  await env?.stop();
  await redis?.stop();
});

async function get(url: string, cookie?: string) {
  const res = await request(url, { dispatcher: loopbackAgent, headers: { accept: 'application/json', ...(cookie ? { cookie } : {}) } });
  const body = await res.body.text();
  return { status: res.statusCode, body };
}

describe('sessions in Redis', () => {
  it('keeps a signed-in session in Redis, sealed, and serves it from there', async () => {
    const browser = env.browser();
    const page = await browser.signIn(env.appUrl('/r'), alice);
    expect(page.status).toBe(200);
    const client = new Redis(redis.url);
    try {
      const keys = await client.keys('it:*');
      expect(keys.length).toBeGreaterThan(0);
      for (const key of keys) {
        const type = await client.type(key);
        const values = type === 'string' ? [await client.getBuffer(key)] : type === 'set' ? await client.smembersBuffer(key) : [];
        for (const v of values) expect(v?.toString('latin1') ?? '').not.toMatch(/alice|example\.com|engineering/);
      }
    } finally {
      client.disconnect();
    }
  });

  it('refuses protected routes with 503 while Redis is paused, keeps public routes working, and recovers by itself', async () => {
    const browser = env.browser();
    await browser.signIn(env.appUrl('/'), alice);
    const cookie = browser.jar.header(new URL(env.appUrl('/')))!;
    expect((await get(env.appUrl('/x'), cookie)).status).toBe(200);

    const admin = new Redis(redis.url);
    try {
      const forwardedBefore = env.upstream.received.length;
      await admin.client('PAUSE', 2500, 'ALL');
      // A session used within the last second may be served from this instance's session
      // cache (session.cache_ttl, 1s) for the rest of that second; after it, nothing is.
      await sleep(1100);
      const during = await get(env.appUrl('/x'), cookie);
      expect(during.status).toBe(503);
      expect(JSON.parse(during.body).error).toBe('session_store_unavailable');
      const publicRoute = await get(`http://public.test:${env.port}/p`);
      expect(publicRoute.status).toBe(200);
      // Only the public request reached the upstream; the refused one never did.
      expect(env.upstream.received.length).toBe(forwardedBefore + 1);
      expect(env.upstream.received.at(-1)!.url).toBe('/p');
    } finally {
      admin.disconnect();
    }
    let after = 0;
    for (let i = 0; i < 60 && after !== 200; i++) {
      await sleep(100);
      after = (await get(env.appUrl('/x'), cookie)).status;
    }
    expect(after).toBe(200);
  });

  it('fails closed while Redis is stopped and serves new sign-ins once it is back', async () => {
    const browser = env.browser();
    await browser.signIn(env.appUrl('/'), alice);
    const cookie = browser.jar.header(new URL(env.appUrl('/')))!;
    await redis.stop();
    try {
      const res = await get(env.appUrl('/y'), cookie);
      expect(res.status).toBe(503);
      expect((await get(`${env.proxy.opsUrl}/readyz`)).status).toBe(503);
    } finally {
      await redis.start();
    }
    let ready = 0;
    for (let i = 0; i < 60 && ready !== 200; i++) {
      await sleep(100);
      ready = (await get(`${env.proxy.opsUrl}/readyz`)).status;
    }
    expect(ready).toBe(200);
    // The restarted Redis kept nothing: the old session is simply gone, and a new sign-in works.
    expect((await get(env.appUrl('/y'), cookie)).status).toBe(401);
    const again = await env.browser().signIn(env.appUrl('/z'), alice);
    expect(again.status).toBe(200);
  });
});
