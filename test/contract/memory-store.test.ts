import { describe, it, expect } from 'vitest';
import { randomBytes } from 'node:crypto';
import { sessionStoreContract } from './session-store.contract.ts';
import { MemorySessionStore } from '../../src/session/memory-store.ts';
import { generateTicket } from '../../src/session/ticket.ts';

sessionStoreContract('memory', async () => {
  const store = new MemorySessionStore();
  // One process, one memory store: a "peer" instance is the same object.
  return { store, peer: async () => store, cleanup: async () => undefined };
});

describe('memory store limits', () => {
  it('evicts the oldest sessions when it holds max_sessions, and removes them from the user index', async () => {
    const store = new MemorySessionStore({ maxSessions: 3 });
    const now = Date.now();
    const ids = Array.from({ length: 5 }, () => generateTicket().id);
    for (const id of ids) await store.put(id, { sealed: randomBytes(8), sub: 'ann', createdAt: now, expiresAt: now + 60_000, idleMs: 60_000 }, 60_000);
    expect(store.size).toBe(3);
    expect(await store.get(ids[0]!)).toBeUndefined();
    expect(await store.get(ids[1]!)).toBeUndefined();
    expect((await store.list({ sub: 'ann' })).map((s) => s.id).sort()).toEqual(ids.slice(2).sort());
  });

  it('forgets an expired session on read without waiting for a timer', async () => {
    let now = 1_000_000;
    const store = new MemorySessionStore({ now: () => now });
    const id = generateTicket().id;
    await store.put(id, { sealed: randomBytes(8), sub: 'ann', createdAt: now, expiresAt: now + 10_000, idleMs: 1000 }, 1000);
    now += 999;
    expect(await store.get(id)).toBeDefined();
    now += 1;
    expect(await store.get(id)).toBeUndefined();
    expect(store.size).toBe(0);
  });
});
