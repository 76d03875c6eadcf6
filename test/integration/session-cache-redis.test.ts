// The in-process session cache over a real Redis: it is trusted only while every revocation is
// sure to reach this instance. When the revocation subscription drops, nothing cached is used;
// a revocation on another instance clears it through pub/sub.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { RedisSessionStore } from '../../src/session/redis-store.ts';
import { SessionManager } from '../../src/session/sessions.ts';
import { adapt } from '../../src/session/open.ts';
import type { SessionData } from '../../src/auth/session-data.ts';
import { startPrivateRedis, type PrivateRedis } from '../helpers/redis.ts';

let redis: PrivateRedis;
const stores: RedisSessionStore[] = [];

beforeAll(async () => {
  redis = await startPrivateRedis();
});
afterAll(async () => {
  for (const store of stores) await store.close();
  await redis?.stop();
});

const lifetimes = { idleMs: 3_600_000, absoluteMs: 7_200_000 };
const data: SessionData = { v: 1, sub: 'alice', groups: [], claims: {}, tokenExpiresAt: Date.now() + 600_000, createdAt: Date.now() };

/** An instance's session layer with the cache on, counting how often it reads Redis. */
async function instance() {
  const store = new RedisSessionStore({ target: { mode: 'standalone', url: redis.url }, keyPrefix: 'cache-test:' });
  stores.push(store);
  await store.waitUntilReady();
  let reads = 0;
  const get = store.get.bind(store);
  store.get = async (id: string) => {
    reads++;
    return get(id);
  };
  const manager = new SessionManager({ store, lifetimes });
  const sessions = adapt(store, manager, 1000);
  await until(() => store.cacheEpoch() !== undefined);
  return { store, manager, sessions, reads: () => reads };
}

async function until(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}

describe('the session cache over Redis', () => {
  it('serves repeated loads without reading Redis while subscribed', async () => {
    const a = await instance();
    const { ticket } = await a.sessions.create(data);
    await a.sessions.load(ticket);
    const before = a.reads();
    for (let i = 0; i < 5; i++) expect((await a.sessions.load(ticket))?.data.sub).toBe('alice');
    expect(a.reads()).toBe(before);
    // fresh: true (before a token refresh) always reads the store
    await a.sessions.load(ticket, { fresh: true });
    expect(a.reads()).toBe(before + 1);
  });

  it('is cleared on every instance by a revocation made on another', async () => {
    const a = await instance();
    const b = await instance();
    const { ticket } = await a.sessions.create({ ...data, sub: 'carol' });
    expect(await a.sessions.load(ticket)).toBeDefined();
    expect(await b.sessions.load(ticket)).toBeDefined();
    await b.sessions.revokeByUser('carol');
    // A's cached copy goes as soon as the message arrives (well within the one-second bound).
    let seen: unknown = 'cached';
    for (let i = 0; i < 100 && seen !== undefined; i++) {
      seen = await a.sessions.load(ticket);
      if (seen !== undefined) await sleep(10);
    }
    expect(seen).toBeUndefined();
  });

  it('is not used while the revocation subscription is down, and is used again once it is back', async () => {
    const a = await instance();
    const { ticket } = await a.sessions.create({ ...data, sub: 'dave' });
    await a.sessions.load(ticket);
    const admin = new Redis(redis.url);
    try {
      // Drop the subscriber connection, as a network blip would: messages sent meanwhile are lost.
      await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
      await until(() => a.store.cacheEpoch() === undefined);
      const before = a.reads();
      await a.sessions.load(ticket);
      await a.sessions.load(ticket);
      expect(a.reads()).toBe(before + 2);
      // Once resubscribed, a revocation made while it was away cannot be served from a copy
      // cached before the drop: the epoch changed.
      await until(() => a.store.cacheEpoch() !== undefined);
      const resumed = a.reads();
      await a.sessions.load(ticket);
      await a.sessions.load(ticket);
      expect(a.reads()).toBe(resumed + 1);
    } finally {
      admin.disconnect();
    }
  });

  it('forgets what it held across a reconnect, so a revocation missed meanwhile is not served', async () => {
    const a = await instance();
    const { ticket, id } = await a.sessions.create({ ...data, sub: 'erin' });
    expect(await a.sessions.load(ticket)).toBeDefined();
    const epoch = a.store.cacheEpoch();
    const admin = new Redis(redis.url);
    try {
      // Kill every connection of this instance and delete the record behind its back, with no
      // message: as if the revocation happened while it was disconnected.
      await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
      await admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
      await admin.del(a.store.sessionKey(id));
      await until(() => a.store.cacheEpoch() !== undefined && a.store.cacheEpoch() !== epoch);
      expect(await a.sessions.load(ticket)).toBeUndefined();
    } finally {
      admin.disconnect();
    }
  });
});
