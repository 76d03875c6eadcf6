// When Redis goes away, rate limits fail open to per-instance counting: a public
// route keeps serving, and keeps limiting with in-memory counts, instead of
// refusing everyone; the outage is logged once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { request } from 'undici';
import { loopbackAgent } from '../helpers/browser.ts';
import { startPrivateRedis, type PrivateRedis } from '../helpers/redis.ts';
import { baseConfig, startProxy, startUpstream, type Running, type Upstream } from '../helpers/servers.ts';

let redis: PrivateRedis;
let upstream: Upstream;
let proxy: Running;

beforeAll(async () => {
  redis = await startPrivateRedis();
  upstream = await startUpstream();
  proxy = await startProxy(`${baseConfig}trusted_proxies: [127.0.0.1]
session: { store: redis }
redis: { url: "${redis.url}", command_timeout: 200ms }
routes:
  - name: public
    from: http://public.test
    to: ${upstream.url}
    public: true
    rate_limit: { requests: 2, per: 1h }
`);
});

afterAll(async () => {
  await proxy?.stop();
  await upstream?.close();
  await redis?.stop();
});

async function status(client: string): Promise<number> {
  const res = await request(`http://public.test:${proxy.port}/`, { dispatcher: loopbackAgent, headers: { accept: 'application/json', 'x-forwarded-for': client } });
  await res.body.dump();
  return res.statusCode;
}

/** Wait (bounded) until the limiter has written to Redis, so the counts below start there. */
async function untilCountingInRedis(): Promise<void> {
  const client = new Redis(redis.url);
  try {
    for (let i = 0; i < 100; i++) {
      await status('192.0.2.1');
      if ((await client.keys('portcullis:rl:*')).length > 0) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('the rate limiter never wrote to Redis');
  } finally {
    client.disconnect();
  }
}

async function logged(pattern: RegExp): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const count = readFileSync(proxy.logFile, 'utf8').match(pattern)?.length ?? 0;
    if (count > 0) return count;
    await new Promise((r) => setTimeout(r, 50));
  }
  return 0;
}

describe('rate limits while Redis is down', () => {
  it('count in Redis while it is up', async () => {
    await untilCountingInRedis();
    expect([await status('203.0.113.70'), await status('203.0.113.70'), await status('203.0.113.70')]).toEqual([200, 200, 429]);
  });

  it('keep serving and keep limiting, counting in memory, when Redis is gone', async () => {
    await redis.stop();
    // A fresh address: served twice from the in-memory insurance counts, then refused.
    expect([await status('203.0.113.71'), await status('203.0.113.71'), await status('203.0.113.71')]).toEqual([200, 200, 429]);
    expect(await logged(/"event":"redis_unavailable"/g)).toBe(1);
  });
});
