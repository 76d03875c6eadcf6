// The behaviours every SessionStore promises. Each backend's test file calls
// sessionStoreContract() with a factory; a new backend passes these or is not
// a SessionStore.
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { generateTicket } from '../../src/session/ticket.ts';
import { StoreUnavailableError, withLock, type SessionEntry, type SessionStore } from '../../src/session/store.ts';

export interface StoreHarness {
  readonly store: SessionStore;
  /** a second handle on the same backend, as another Portcullis instance would have */
  peer(): Promise<SessionStore>;
  /** remove everything the test left behind */
  cleanup(): Promise<void>;
}

const HOUR = 3_600_000;

function entry(overrides: Partial<SessionEntry> = {}): SessionEntry {
  const now = Date.now();
  return { sealed: randomBytes(200), sub: `user-${randomBytes(4).toString('hex')}`, createdAt: now, expiresAt: now + 12 * HOUR, idleMs: HOUR, ...overrides };
}

const newId = (): string => generateTicket().id;

async function until(check: () => Promise<boolean>, what: string, limitMs = 5000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting: ${what}`);
    await sleep(20);
  }
}

export function sessionStoreContract(name: string, open: () => Promise<StoreHarness>): void {
  describe(`SessionStore contract: ${name}`, () => {
    let harness: StoreHarness;
    let store: SessionStore;
    const peers: SessionStore[] = [];

    beforeEach(async () => {
      harness = await open();
      store = harness.store;
    });

    afterEach(async () => {
      await harness.cleanup();
      for (const peer of peers.splice(0)) if (peer !== store) await peer.close();
      await store.close();
    });

    it('gives back exactly the bytes and times it was given', async () => {
      const id = newId();
      const e = entry({ sid: 'idp-1', email: 'ann@example.com' });
      await store.put(id, e, HOUR);
      const got = await store.get(id);
      expect(got).toBeDefined();
      expect(Buffer.from(got!.sealed).equals(Buffer.from(e.sealed))).toBe(true);
      expect(got).toMatchObject({ createdAt: e.createdAt, expiresAt: e.expiresAt, idleMs: e.idleMs });
      expect(got!.idleExpiresAt).toBeGreaterThan(Date.now() + HOUR - 60_000);
      expect(got!.idleExpiresAt).toBeLessThanOrEqual(Date.now() + HOUR + 1000);
    });

    it('knows nothing of an id it never stored', async () => {
      expect(await store.get(newId())).toBeUndefined();
    });

    it('drops a session when its idle time runs out, unless it was touched', async () => {
      const idle = newId();
      const touched = newId();
      await store.put(idle, entry(), 300);
      await store.put(touched, entry(), 300);
      expect(await store.touch(touched, 60_000)).toBe(true);
      await until(async () => (await store.get(idle)) === undefined, 'the untouched session expires');
      expect(await store.get(touched)).toBeDefined();
    });

    it('keeps the bytes, times and index entries of a session it touches, and moves only its idle deadline', async () => {
      const id = newId();
      const e = entry({ sid: 'idp-touch', email: 'touch@example.com', sealed: randomBytes(2000) });
      await store.put(id, e, 60_000);
      expect(await store.touch(id, HOUR)).toBe(true);
      const got = await store.get(id);
      expect(Buffer.from(got!.sealed).equals(Buffer.from(e.sealed))).toBe(true);
      expect(got).toMatchObject({ createdAt: e.createdAt, expiresAt: e.expiresAt, idleMs: e.idleMs });
      expect(got!.idleExpiresAt).toBeGreaterThan(Date.now() + HOUR - 60_000);
      expect((await store.list({ sub: e.sub })).map((s) => s.id)).toEqual([id]);
      expect((await store.list({ email: 'touch@example.com' })).map((s) => s.id)).toEqual([id]);
    });

    it('lists the remaining sessions of a user correctly as they are deleted one by one', async () => {
      const sub = `user-${randomBytes(4).toString('hex')}`;
      const ids = [newId(), newId(), newId()];
      for (const id of ids) await store.put(id, entry({ sub }), HOUR);
      for (let i = 0; i < ids.length; i++) {
        expect(await store.delete(ids[i]!)).toBe(true);
        expect((await store.list({ sub })).map((s) => s.id).sort()).toEqual(ids.slice(i + 1).sort());
      }
      await store.put(ids[0]!, entry({ sub }), HOUR);
      expect((await store.list({ sub })).map((s) => s.id)).toEqual([ids[0]]);
      expect(await store.deleteMatching({ sub })).toBe(1);
    });

    it('never keeps a session past its absolute end, even when its idle deadline is later', async () => {
      const id = newId();
      const now = Date.now();
      await store.put(id, entry({ createdAt: now - HOUR, expiresAt: now + 200 }), 200);
      await until(async () => (await store.get(id)) === undefined, 'the session reaches its absolute end');
    });

    it('does not create a session by touching an unknown id', async () => {
      const id = newId();
      expect(await store.touch(id, HOUR)).toBe(false);
      expect(await store.get(id)).toBeUndefined();
    });

    it('deletes a session once', async () => {
      const id = newId();
      await store.put(id, entry(), HOUR);
      expect(await store.delete(id)).toBe(true);
      expect(await store.get(id)).toBeUndefined();
      expect(await store.delete(id)).toBe(false);
    });

    it('never brings back a deleted session through replace', async () => {
      const id = newId();
      const e = entry();
      await store.put(id, e, HOUR);
      await store.delete(id);
      expect(await store.replace(id, { ...e, sealed: randomBytes(10) }, HOUR)).toBe(false);
      expect(await store.get(id)).toBeUndefined();
      expect(await store.list({ sub: e.sub })).toEqual([]);
    });

    it('replaces a live session and moves it between index entries when its email changes', async () => {
      const id = newId();
      const e = entry({ email: 'old@example.com' });
      await store.put(id, e, HOUR);
      const sealed = randomBytes(64);
      expect(await store.replace(id, { ...e, email: 'new@example.com', sealed }, HOUR)).toBe(true);
      expect(Buffer.from((await store.get(id))!.sealed).equals(sealed)).toBe(true);
      expect(await store.list({ email: 'old@example.com' })).toEqual([]);
      expect((await store.list({ email: 'new@example.com' })).map((s) => s.id)).toEqual([id]);
    });

    it('lists the sessions of a user by subject, by email (any case) and by provider session, and nobody else', async () => {
      const sub = `user-${randomBytes(4).toString('hex')}`;
      const email = `${sub}@Example.com`;
      const [a, b, other] = [newId(), newId(), newId()];
      await store.put(a, entry({ sub, email, sid: `${sub}-sid-1` }), HOUR);
      await store.put(b, entry({ sub, email, sid: `${sub}-sid-2` }), HOUR);
      await store.put(other, entry({ email: 'someone-else@example.com' }), HOUR);
      expect((await store.list({ sub })).map((s) => s.id).sort()).toEqual([a, b].sort());
      expect((await store.list({ email: email.toLowerCase() })).map((s) => s.id).sort()).toEqual([a, b].sort());
      expect((await store.list({ sid: `${sub}-sid-2` })).map((s) => s.id)).toEqual([b]);
      const [summary] = await store.list({ sid: `${sub}-sid-1` });
      expect(summary).toMatchObject({ id: a, idleMs: HOUR });
      expect(summary).not.toHaveProperty('sealed');
    });

    it('does not list sessions that expired', async () => {
      const sub = `user-${randomBytes(4).toString('hex')}`;
      const [short, long] = [newId(), newId()];
      await store.put(short, entry({ sub }), 100);
      await store.put(long, entry({ sub }), HOUR);
      await until(async () => (await store.get(short)) === undefined, 'the short session expires');
      expect((await store.list({ sub })).map((s) => s.id)).toEqual([long]);
    });

    it('deletes every session of a user and only those', async () => {
      const sub = `user-${randomBytes(4).toString('hex')}`;
      const mine = [newId(), newId(), newId()];
      const theirs = newId();
      for (const id of mine) await store.put(id, entry({ sub }), HOUR);
      await store.put(theirs, entry(), HOUR);
      expect(await store.deleteMatching({ sub })).toBe(3);
      for (const id of mine) expect(await store.get(id)).toBeUndefined();
      expect(await store.get(theirs)).toBeDefined();
      expect(await store.deleteMatching({ sub })).toBe(0);
    });

    it('deletes every session of one identity provider session (back-channel logout)', async () => {
      const sub = `user-${randomBytes(4).toString('hex')}`;
      const [laptop, phone] = [newId(), newId()];
      await store.put(laptop, entry({ sub, sid: `${sub}-laptop` }), HOUR);
      await store.put(phone, entry({ sub, sid: `${sub}-phone` }), HOUR);
      expect(await store.deleteMatching({ sid: `${sub}-laptop` })).toBe(1);
      expect(await store.get(laptop)).toBeUndefined();
      expect(await store.get(phone)).toBeDefined();
    });

    it('deletes all sessions', async () => {
      const ids = [newId(), newId()];
      for (const id of ids) await store.put(id, entry({ email: 'x@example.com' }), HOUR);
      expect(await store.deleteAll()).toBeGreaterThanOrEqual(2);
      for (const id of ids) expect(await store.get(id)).toBeUndefined();
      expect(await store.list({ email: 'x@example.com' })).toEqual([]);
    });

    it('tells its own revocation listeners before a revocation returns, and another instance\'s soon after', async () => {
      const peer = await harness.peer();
      peers.push(peer);
      let here = 0;
      let there = 0;
      // A listener that throws keeps neither the revocation from returning nor the next listener from hearing of it.
      store.onRevoked?.(() => {
        throw new Error('a broken listener');
      });
      store.onRevoked?.(() => here++);
      if (peer !== store) peer.onRevoked?.(() => there++);
      // A message published before the peer's subscription is active would be lost.
      await until(async () => peer.cacheEpoch?.() !== undefined || peer.cacheEpoch === undefined, 'the peer subscribes');
      const sub = `user-${randomBytes(4).toString('hex')}`;
      const [one, two] = [newId(), newId()];
      await store.put(one, entry({ sub }), HOUR);
      await store.put(two, entry({ sub }), HOUR);
      const seen: number[] = [];
      expect(await store.delete(one)).toBe(true);
      seen.push(here);
      await store.deleteMatching({ sub });
      seen.push(here);
      await store.put(one, entry(), HOUR);
      await store.deleteAll();
      seen.push(here);
      expect(seen.map((n, i) => n > (i === 0 ? 0 : seen[i - 1]!))).toEqual([true, true, true]);
      if (peer !== store) await until(async () => there >= 3, 'the other instance hears of all three revocations');
    });

    it('shares sessions between instances using the same backend', async () => {
      const peer = await harness.peer();
      peers.push(peer);
      const id = newId();
      await store.put(id, entry(), HOUR);
      expect(await peer.get(id)).toBeDefined();
      await peer.delete(id);
      expect(await store.get(id)).toBeUndefined();
    });

    it('grants a lock to one holder at a time, releases it only for the right token, and lets it expire', async () => {
      const key = `refresh:${newId()}`;
      const token = await store.acquireLock(key, 60_000);
      expect(token).toEqual(expect.any(String));
      expect(await store.acquireLock(key, 60_000)).toBeUndefined();
      expect(await store.releaseLock(key, 'not-the-token')).toBe(false);
      expect(await store.acquireLock(key, 60_000)).toBeUndefined();
      expect(await store.releaseLock(key, token!)).toBe(true);
      expect(await store.releaseLock(key, token!)).toBe(false);
      const short = await store.acquireLock(key, 100);
      expect(short).toBeDefined();
      await until(async () => (await store.acquireLock(key, 60_000)) !== undefined, 'the lock expires');
    });

    it('lets exactly one of many contending instances run at a time under withLock', async () => {
      const peer = await harness.peer();
      peers.push(peer);
      const key = `refresh:${newId()}`;
      let active = 0;
      let maxActive = 0;
      let runs = 0;
      const work = async (): Promise<void> => {
        active++;
        maxActive = Math.max(maxActive, active);
        await sleep(5);
        runs++;
        active--;
      };
      const results = await Promise.all(Array.from({ length: 16 }, (_, i) => withLock(i % 2 ? peer : store, key, 10_000, work, { waitMs: 20_000 })));
      expect(results.every((r) => r.acquired)).toBe(true);
      expect(runs).toBe(16);
      expect(maxActive).toBe(1);
    });

    it('reports a lock held elsewhere instead of waiting forever', async () => {
      const key = `refresh:${newId()}`;
      await store.acquireLock(key, 60_000);
      let ran = false;
      const result = await withLock(store, key, 1000, async () => (ran = true), { waitMs: 50 });
      expect(result).toEqual({ acquired: false });
      expect(ran).toBe(false);
    });

    it('answers ping, and fails closed with StoreUnavailableError once closed', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
      await store.close();
      const failure = await store.get(newId()).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(StoreUnavailableError);
      expect((failure as StoreUnavailableError).code).toBe('session_store_unavailable');
    });
  });
}
