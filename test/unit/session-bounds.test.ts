// The maps that keep recently used sessions stay within their bounds with thousands of
// users, and keep the most recently used ones.
import { describe, expect, it } from 'vitest';
import { dropOldest } from '../../src/session/bounded-map.ts';
import { MemorySessionStore } from '../../src/session/memory-store.ts';
import { MAX_OPENED, SessionManager } from '../../src/session/sessions.ts';
import { MAX_CACHED, adapt } from '../../src/session/open.ts';
import type { SessionData } from '../../src/auth/session-data.ts';

describe('dropOldest', () => {
  it('deletes the oldest entries down to the number kept, and nothing when under it', () => {
    const map = new Map(Array.from({ length: 10 }, (_, i) => [`k${i}`, i]));
    map.delete('k1');
    map.set('k1', 1); // used again: now the newest
    dropOldest(map, 4);
    expect([...map.keys()]).toEqual(['k7', 'k8', 'k9', 'k1']);
    dropOldest(map, 4);
    dropOldest(map, 10);
    expect(map.size).toBe(4);
  });
});

const data: SessionData = { v: 1, sub: 'alice', groups: [], claims: {}, tokenExpiresAt: Date.now() + 600_000, createdAt: Date.now() };

describe('the session cache with more users in a second than its bound', () => {
  it('keeps at most MAX_CACHED sessions, the most recently read among them', async () => {
    let reads = 0;
    // A manager that opens any ticket at once: only the cache's bookkeeping is under test.
    const manager = { load: async (ticket: string) => (reads++, { id: ticket, data }) } as unknown as SessionManager;
    const sessions = adapt(new MemorySessionStore(), manager, 1000);
    const tickets = Array.from({ length: MAX_CACHED + 2_000 }, (_, i) => `ticket-${i}`);
    for (const ticket of tickets) await sessions.load(ticket);
    expect(reads).toBe(tickets.length);
    // A cached session comes back at once, not as a promise; counted without awaiting, so no
    // read started here lands in the cache before the count is done.
    const cached = tickets.filter((t) => !(sessions.load(t) instanceof Promise));
    expect(cached.length).toBeLessThanOrEqual(MAX_CACHED);
    expect(cached.length).toBeGreaterThanOrEqual(MAX_CACHED - MAX_CACHED / 8);
    expect(cached).toEqual(tickets.slice(-cached.length));
  });
});

describe('the opened sessions with more users than their bound', () => {
  it('keeps at most MAX_OPENED, the most recently used among them', async () => {
    const manager = new SessionManager({ store: new MemorySessionStore(), lifetimes: { idleMs: 3_600_000, absoluteMs: 7_200_000 } });
    const created = [];
    for (let i = 0; i <= MAX_OPENED; i++) created.push((await manager.create({ ...data, sub: `user-${i}` })).ticket);
    const first = await manager.load(created[0]!);
    const opened = [];
    for (const ticket of created.slice(1)) opened.push((await manager.load(ticket))!.data);
    // The newest is found again as the very object opened before; the first, pushed out by
    // MAX_OPENED newer ones, is opened anew (an equal object, not the same one).
    expect((await manager.load(created.at(-1)!))!.data).toBe(opened.at(-1));
    const firstAgain = await manager.load(created[0]!);
    expect(firstAgain!.data).toEqual(first!.data);
    expect(firstAgain!.data).not.toBe(first!.data);
  });
});
