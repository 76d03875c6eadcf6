// When Redis goes away, session lookups fail fast and closed (StoreUnavailableError,
// which the request path turns into a 503), and service resumes by itself
// when Redis is back. Two kinds of outage, against a private redis-server:
//  1. the server stops (connection refused): it keeps no data across the
//     restart, so recovery is shown with a session created afterwards;
//  2. the server stops answering (CLIENT PAUSE, like a network partition):
//     commands time out, and afterwards the same session loads again.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { RedisSessionStore } from '../../src/session/redis-store.ts';
import { SessionManager } from '../../src/session/sessions.ts';
import { StoreUnavailableError } from '../../src/session/store.ts';
import { startPrivateRedis, type PrivateRedis } from '../helpers/redis.ts';

const HOUR = 3_600_000;
const lines: { level: 'warn' | 'info'; msg: string }[] = [];
const logger = {
  warn: (_obj: object, msg: string) => void lines.push({ level: 'warn', msg }),
  info: (_obj: object, msg: string) => void lines.push({ level: 'info', msg }),
};

let redis: PrivateRedis;
let store: RedisSessionStore;
let manager: SessionManager;

beforeAll(async () => {
  redis = await startPrivateRedis();
  store = new RedisSessionStore({ target: { mode: 'standalone', url: redis.url }, commandTimeoutMs: 200, logger });
  await store.waitUntilReady();
  manager = new SessionManager({ store, lifetimes: { idleMs: HOUR, absoluteMs: 12 * HOUR } });
});

afterAll(async () => {
  await store?.close();
  await redis?.stop();
});

/** The outcome of load(): the session, undefined, the error it threw, or "hung" if it took longer than 5 s. */
async function loadOutcome(ticket: string): Promise<unknown> {
  const guard = new AbortController();
  try {
    return await Promise.race([
      manager.load(ticket).catch((error: unknown) => error),
      sleep(5000, 'hung', { signal: guard.signal }),
    ]);
  } finally {
    guard.abort();
  }
}

async function pollUntil<T>(attempt: () => Promise<T | undefined>, what: string, limitMs = 10_000): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const value = await attempt().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting: ${what}`);
    await sleep(50);
  }
}

describe('Redis outage', () => {
  it('refuses lookups while Redis is stopped, logs the outage once, and recovers by itself when it restarts', async () => {
    const before = await manager.create({ sub: 'ann' });
    expect((await manager.load(before.ticket))?.data.sub).toBe('ann');

    await redis.stop();
    for (let i = 0; i < 3; i++) {
      const outcome = await loadOutcome(before.ticket);
      expect(outcome).toBeInstanceOf(StoreUnavailableError);
      expect((outcome as StoreUnavailableError).code).toBe('session_store_unavailable');
    }
    await expect(manager.create({ sub: 'bob' })).rejects.toBeInstanceOf(StoreUnavailableError);
    await sleep(1500); // several reconnect attempts fail meanwhile
    expect(lines.filter((l) => l.level === 'warn')).toHaveLength(1);

    await redis.start(); // same port, empty
    const after = await pollUntil(async () => {
      const created = await manager.create({ sub: 'carol' });
      return (await manager.load(created.ticket))?.data.sub;
    }, 'sessions work again after Redis restarts');
    expect(after).toBe('carol');
    expect(lines.map((l) => l.level)).toEqual(['warn', 'info']);
  });

  it('refuses lookups while Redis does not answer, and loads the same session once it answers again', async () => {
    const session = await manager.create({ sub: 'dave', note: 'kept across the pause' });
    const admin = new Redis(redis.url);
    try {
      await admin.call('CLIENT', 'PAUSE', '1500', 'ALL');
      const outcome = await loadOutcome(session.ticket);
      expect(outcome).toBeInstanceOf(StoreUnavailableError);
      const loaded = await pollUntil(() => manager.load(session.ticket), 'the paused Redis answers again');
      expect(loaded.data).toEqual({ sub: 'dave', note: 'kept across the pause' });
    } finally {
      admin.disconnect();
    }
  });
});
