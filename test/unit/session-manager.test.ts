import { describe, it, expect } from 'vitest';
import { MemorySessionStore } from '../../src/session/memory-store.ts';
import { SessionManager, planTouch } from '../../src/session/sessions.ts';
import { StoreUnavailableError, type SessionStore, type StoredSession } from '../../src/session/store.ts';
import { formatTicket, generateTicket, parseTicket } from '../../src/session/ticket.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;

function setup() {
  const clock = { now: 1_700_000_000_000 };
  const store = new MemorySessionStore({ now: () => clock.now });
  const manager = new SessionManager({ store, lifetimes: { idleMs: HOUR, absoluteMs: 12 * HOUR }, now: () => clock.now });
  return { clock, store, manager };
}

const ann = { sub: 'ann-sub', sid: 'idp-sid-1', email: 'Ann@Example.com', tokens: { access_token: 'at-123', refresh_token: 'rt-456' }, groups: ['eng'] };

describe('SessionManager', () => {
  it('creates a session under a new ticket at every login and loads it back', async () => {
    const { manager } = setup();
    const first = await manager.create(ann);
    const second = await manager.create(ann);
    expect(first.ticket).not.toBe(second.ticket);
    expect(parseTicket(first.ticket)?.id).toBe(first.id);
    const loaded = await manager.load(first.ticket);
    expect(loaded).toMatchObject({ id: first.id, data: ann, touched: false });
  });

  it('loads nothing for a missing, malformed, unknown or wrong-secret ticket', async () => {
    const { manager } = setup();
    const { ticket, id } = await manager.create(ann);
    expect(await manager.load(undefined)).toBeUndefined();
    expect(await manager.load('garbage')).toBeUndefined();
    expect(await manager.load(formatTicket(generateTicket()))).toBeUndefined();
    expect(await manager.load(formatTicket({ id, secret: generateTicket().secret }))).toBeUndefined();
    expect(await manager.load(ticket.slice(0, -1))).toBeUndefined();
    // A wrong secret does not delete the real session.
    expect(await manager.load(ticket)).toBeDefined();
  });

  it('ends a session after the idle timeout without use', async () => {
    const { manager, clock } = setup();
    const { ticket } = await manager.create(ann);
    clock.now += HOUR;
    expect(await manager.load(ticket)).toBeUndefined();
  });

  it('slides the idle deadline on use, writing only when it moved by more than a tenth of the window', async () => {
    const { manager, clock } = setup();
    const { ticket } = await manager.create(ann);
    clock.now += 5 * MIN;
    expect((await manager.load(ticket))?.touched).toBe(false);
    clock.now += 2 * MIN; // 7 min since the last write > 6 min
    const loaded = await manager.load(ticket);
    expect(loaded?.touched).toBe(true);
    expect(loaded?.idleExpiresAt).toBe(clock.now + HOUR);
    clock.now += 59 * MIN; // past the original idle deadline, inside the slid one
    expect(await manager.load(ticket)).toBeDefined();
  });

  it('never slides past the absolute lifetime', async () => {
    const { manager, clock } = setup();
    const { ticket, expiresAt } = await manager.create(ann);
    for (let i = 0; i < 24; i++) {
      clock.now += 30 * MIN;
      const loaded = await manager.load(ticket);
      if (clock.now < expiresAt) expect(loaded?.idleExpiresAt).toBeLessThanOrEqual(expiresAt);
      else expect(loaded).toBeUndefined();
    }
  });

  it('updates a live session but never brings back a revoked one', async () => {
    const { manager } = setup();
    const { ticket } = await manager.create(ann);
    const refreshed = { ...ann, tokens: { access_token: 'at-new', refresh_token: 'rt-new' } };
    expect(await manager.update(ticket, refreshed)).toBe(true);
    expect((await manager.load(ticket))?.data).toEqual(refreshed);
    expect(await manager.revoke(ticket)).toBe(true);
    expect(await manager.update(ticket, ann)).toBe(false);
    expect(await manager.load(ticket)).toBeUndefined();
  });

  it('refuses to change the subject of a session', async () => {
    const { manager } = setup();
    const { ticket } = await manager.create(ann);
    await expect(manager.update(ticket, { ...ann, sub: 'mallory' })).rejects.toThrow(/subject/);
  });

  it('does not log out a session for a cookie that only knows its id', async () => {
    const { manager } = setup();
    const { ticket, id } = await manager.create(ann);
    expect(await manager.revoke(formatTicket({ id, secret: generateTicket().secret }))).toBe(false);
    expect(await manager.load(ticket)).toBeDefined();
  });

  it('revokes every session of a user by subject or by email, and by provider session', async () => {
    const { manager } = setup();
    const a = await manager.create(ann);
    const b = await manager.create({ ...ann, sid: 'idp-sid-2' });
    const bob = await manager.create({ sub: 'bob', email: 'bob@example.com' });
    expect(await manager.revokeSid('idp-sid-2')).toBe(1);
    expect(await manager.load(b.ticket)).toBeUndefined();
    expect(await manager.revokeUser('ann@example.com')).toBe(1);
    expect(await manager.load(a.ticket)).toBeUndefined();
    expect(await manager.load(bob.ticket)).toBeDefined();
    expect(await manager.revokeUser('bob')).toBe(1);
    expect(await manager.load(bob.ticket)).toBeUndefined();
  });

  it('lists sessions with metadata only, never tokens', async () => {
    const { manager, clock } = setup();
    const first = await manager.create(ann);
    clock.now += 1000;
    const second = await manager.create({ ...ann, sid: 'idp-sid-2' });
    const listed = await manager.list({ user: 'ann-sub' });
    expect(listed.map((s) => s.id)).toEqual([first.id, second.id]);
    expect(listed[0]).toMatchObject({ sub: 'ann-sub', createdAt: clock.now - 1000, expiresAt: first.expiresAt });
    expect(JSON.stringify(listed)).not.toMatch(/at-123|rt-456|tokens/);
    expect((await manager.list({ sid: 'idp-sid-2' })).map((s) => s.id)).toEqual([second.id]);
    expect(await manager.revokeId(first.id)).toBe(true);
    expect((await manager.list({ user: 'ann@example.com' })).map((s) => s.id)).toEqual([second.id]);
  });

  it('throws StoreUnavailableError instead of answering "no session" when the store is down', async () => {
    const { manager, store } = setup();
    const { ticket } = await manager.create(ann);
    await store.close();
    await expect(manager.load(ticket)).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  it('rejects session data without a subject', async () => {
    const { manager } = setup();
    await expect(manager.create({ sub: '' })).rejects.toThrow(/sub/);
  });
});

describe('SessionManager: a session opened once', () => {
  /** The memory store, with what get() returns changed by `edit` (a record altered in the store). */
  function editableStore(store: MemorySessionStore) {
    let edit: ((s: StoredSession) => StoredSession) | undefined;
    const get = async (id: string) => {
      const s = await store.get(id);
      return s && edit ? edit(s) : s;
    };
    const edited = new Proxy(store, {
      get: (target, prop) => {
        if (prop === 'get') return get;
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    }) as SessionStore;
    return { edited, setEdit: (e: typeof edit) => (edit = e) };
  }

  it('is found again while the store holds the same record, and opened anew once another instance replaced it', async () => {
    const { store, clock } = setup();
    const lifetimes = { idleMs: HOUR, absoluteMs: 12 * HOUR };
    const one = new SessionManager({ store, lifetimes, now: () => clock.now });
    const other = new SessionManager({ store, lifetimes, now: () => clock.now });
    const { ticket } = await one.create(ann);
    const first = await one.load(ticket);
    const again = await one.load(ticket);
    // the very object opened before: nothing was decrypted or decoded again
    expect(again?.data).toBe(first?.data);
    const refreshed = { ...ann, tokens: { access_token: 'at-new', refresh_token: 'rt-new' } };
    expect(await other.update(ticket, refreshed)).toBe(true);
    const after = await one.load(ticket);
    expect(after?.data).toEqual(refreshed);
    expect(await other.revoke(ticket)).toBe(true);
    expect(await one.load(ticket)).toBeUndefined();
  });

  it('is not served from memory when the stored bytes or their bound times were edited', async () => {
    const { store, clock } = setup();
    const { edited, setEdit } = editableStore(store);
    const manager = new SessionManager({ store: edited, lifetimes: { idleMs: HOUR, absoluteMs: 12 * HOUR }, now: () => clock.now });
    const { ticket } = await manager.create(ann);
    expect(await manager.load(ticket)).toBeDefined();
    setEdit((s) => {
      const sealed = Buffer.from(s.sealed);
      sealed[sealed.length - 20]! ^= 1;
      return { ...s, sealed };
    });
    expect(await manager.load(ticket)).toBeUndefined();
    setEdit((s) => ({ ...s, createdAt: s.createdAt - 1 }));
    expect(await manager.load(ticket)).toBeUndefined();
    setEdit(undefined);
    expect((await manager.load(ticket))?.data).toEqual(ann);
  });

  it('opens nothing for its id with another secret', async () => {
    const { manager } = setup();
    const { ticket, id } = await manager.create(ann);
    expect(await manager.load(ticket)).toBeDefined();
    expect(await manager.load(formatTicket({ id, secret: generateTicket().secret }))).toBeUndefined();
  });
});

describe('planTouch', () => {
  const times = { createdAt: 0, expiresAt: 12 * HOUR, idleMs: HOUR };
  it('does not write while the deadline would move by a tenth of the idle window or less', () => {
    expect(planTouch({ ...times, idleExpiresAt: HOUR }, 6 * MIN)).toEqual({ touch: false });
  });
  it('writes the full idle window once it would move by more', () => {
    expect(planTouch({ ...times, idleExpiresAt: HOUR }, 6 * MIN + 1)).toEqual({ touch: true, ttlMs: HOUR });
  });
  it('caps the new deadline at the absolute end', () => {
    expect(planTouch({ ...times, idleExpiresAt: 11 * HOUR }, 11.5 * HOUR)).toEqual({ touch: true, ttlMs: 0.5 * HOUR });
    expect(planTouch({ ...times, idleExpiresAt: 12 * HOUR }, 11.5 * HOUR)).toEqual({ touch: false });
  });
});
