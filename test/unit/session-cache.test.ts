// The optional in-process session cache: it saves store reads, and any revocation clears it.
import { describe, expect, it } from 'vitest';
import { MemorySessionStore } from '../../src/session/memory-store.ts';
import { SessionManager } from '../../src/session/sessions.ts';
import { adapt } from '../../src/session/open.ts';
import { loadConfigText } from '../../src/config/load.ts';
import { ConfigError } from '../../src/errors.ts';
import type { SessionData } from '../../src/auth/session-data.ts';

function counted() {
  const store = new MemorySessionStore();
  let gets = 0;
  const get = store.get.bind(store);
  store.get = async (id: string) => {
    gets++;
    return get(id);
  };
  const manager = new SessionManager({ store, lifetimes: { idleMs: 3_600_000, absoluteMs: 7_200_000 } });
  return { store, manager, gets: () => gets };
}

const data: SessionData = { v: 1, sub: 'alice', groups: [], claims: {}, tokenExpiresAt: Date.now() + 600_000, createdAt: Date.now() };

describe('the session cache', () => {
  it('serves repeated loads from memory within its lifetime', async () => {
    const c = counted();
    const sessions = adapt(c.store, c.manager, 1000);
    const { ticket } = await sessions.create(data);
    await sessions.load(ticket);
    await sessions.load(ticket);
    await sessions.load(ticket);
    expect(c.gets()).toBe(1);
  });

  it('answers a cached session at once, without a promise: the request path stays synchronous', async () => {
    const c = counted();
    const sessions = adapt(c.store, c.manager, 1000);
    const { ticket } = await sessions.create(data);
    const first = sessions.load(ticket);
    expect(first).toBeInstanceOf(Promise);
    const opened = await first;
    const second = sessions.load(ticket);
    expect(second).not.toBeInstanceOf(Promise);
    expect(second).toBe(opened);
    // asking for a fresh copy always reads the store
    expect(sessions.load(ticket, { fresh: true })).toBeInstanceOf(Promise);
  });

  it('is cleared by a revocation made anywhere, so the revoked session is not served from it', async () => {
    const c = counted();
    const sessions = adapt(c.store, c.manager, 1000);
    const { ticket } = await sessions.create(data);
    expect(await sessions.load(ticket)).toBeDefined();
    // revoked through the store directly, as another instance or the admin API would
    await c.manager.revokeUser('alice');
    await new Promise((r) => setImmediate(r));
    expect(await sessions.load(ticket)).toBeUndefined();
  });

  it('is off with a TTL of 0, and limited to one second', async () => {
    const c = counted();
    const sessions = adapt(c.store, c.manager);
    const { ticket } = await sessions.create(data);
    await sessions.load(ticket);
    await sessions.load(ticket);
    expect(c.gets()).toBe(2);
    const base = 'public_url: https://a.example\nroutes: [ { name: r, from: https://a.example, to: http://127.0.0.1:1, public: true } ]\n';
    expect(() => loadConfigText(`${base}session: { store: redis, cache_ttl: 2s }\nredis: { url: "redis://127.0.0.1:6379" }\n`, 'c.yaml', {})).toThrow(ConfigError);
    expect(() => loadConfigText(`${base}session: { store: redis, cache_ttl: 1s }\nredis: { url: "redis://127.0.0.1:6379" }\n`, 'c.yaml', {})).not.toThrow();
  });
});

describe('reads of one session in flight', () => {
  it('are shared: many concurrent loads of an uncached session read the store once', async () => {
    const c = counted();
    const sessions = adapt(c.store, c.manager, 1000);
    const { ticket } = await sessions.create(data);
    const loaded = await Promise.all(Array.from({ length: 20 }, () => sessions.load(ticket)));
    expect(loaded.every((l) => l?.data.sub === 'alice')).toBe(true);
    expect(c.gets()).toBe(1);
  });

  it('are not shared across a revocation: a load that arrives after it reads the store again', async () => {
    const c = counted();
    const sessions = adapt(c.store, c.manager, 1000);
    const { ticket } = await sessions.create(data);
    const before = sessions.load(ticket);
    await sessions.revokeByUser('alice');
    const after = await sessions.load(ticket);
    expect(after).toBeUndefined();
    await before;
    // and the read that started before the revocation did not fill the cache
    expect(await sessions.load(ticket)).toBeUndefined();
  });
});

describe('the session cache across a reconnect of a shared store', () => {
  it('does not share a read that started before the store reconnected', async () => {
    const c = counted();
    let epoch: number | undefined = 1;
    (c.store as unknown as { cacheEpoch: () => number | undefined }).cacheEpoch = () => epoch;
    const sessions = adapt(c.store, c.manager, 1000);
    const { ticket } = await sessions.create(data);
    // hold the first read until told
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const get = c.store.get.bind(c.store);
    c.store.get = async (id: string) => {
      await gate;
      return get(id);
    };
    const first = sessions.load(ticket);
    epoch = 2; // the connection dropped and came back while it was read
    const second = sessions.load(ticket);
    release();
    await Promise.all([first, second]);
    // both went to the store (counted() counts every read): the second did not join the first
    expect(c.gets()).toBe(2);
    let reads = 0;
    c.store.get = async (id: string) => {
      reads++;
      return get(id);
    };
    epoch = 3;
    await Promise.all([sessions.load(ticket), sessions.load(ticket)]);
    expect(reads).toBe(1); // within one epoch, concurrent loads still share one read
  });
});
