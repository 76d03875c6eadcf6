// Wire the session layer to what the login flow needs (src/auth/session-data.ts).
import type { CompiledConfig } from '../config/compile.ts';
import type { Logger } from '../log.ts';
import type { SessionData as AuthSessionData, Sessions } from '../auth/session-data.ts';
import { createSessionStore } from './config.ts';
import { SessionManager } from './sessions.ts';
import { dropOldest } from './bounded-map.ts';
import { withLock, type SessionStore } from './store.ts';

export function sessionLifetimeMs(config: CompiledConfig): number {
  return config.session.lifetimeMs;
}

export async function openSessions(config: CompiledConfig, logger: Logger): Promise<Sessions> {
  return openSessionLayer(config, logger).sessions;
}

/** The store behind two faces: what sign-in uses (sessions) and what the admin API uses (manager). */
export function openSessionLayer(config: CompiledConfig, logger: Logger): { sessions: Sessions; manager: SessionManager } {
  const store: SessionStore = createSessionStore(config.sessionStore, logger.child({ component: 'session-store' }));
  const manager = new SessionManager({ store, lifetimes: { idleMs: config.session.idleMs, absoluteMs: config.session.lifetimeMs } });
  // Opening a session (key derivation, decryption, decompression) costs more than the rest of
  // a request, and with Redis a round trip too: keep opened sessions for a moment.
  return { sessions: adapt(store, manager, config.sessionStore.session.cache_ttl), manager };
}

type Loaded = { id: string; data: AuthSessionData };
type Cached = { value: Loaded; until: number; epoch: number };

/** Enough for every session active within a second on a busy instance; a bound, not a tuning knob. */
export const MAX_CACHED = 10_000;

/**
 * Opened sessions are kept in this process for up to cacheTtlMs (at most a second), saving
 * the unseal (and with Redis a round trip) on most requests. Every revocation, here or on
 * another instance (pub/sub), clears the cache. While the store cannot promise that a
 * revocation would reach this instance (cacheEpoch undefined: Redis or the subscription is
 * down or reconnecting) the cache is not used at all, so an unreachable Redis still refuses
 * at once; after a reconnect nothing cached before it is trusted. The lifetime bounds what a
 * lost message could cost. Only sessions that exist are cached, so a new sign-in is visible at once.
 */
export function adapt(store: SessionStore, manager: SessionManager, cacheTtlMs = 0): Sessions {
  const cache = cacheTtlMs > 0 ? new Map<string, Cached>() : undefined;
  // Reads in flight, shared: when a cached session expires under load, every request for it
  // arrives before the first read returns, and each would otherwise read and unseal it again.
  // A read is only kept if it is still the current one when it returns: a revocation (clear)
  // or an update of that session (forget) meanwhile drops it, so it neither fills the cache
  // nor is shared with requests that arrive after it.
  const reading = new Map<string, { pending: Promise<Loaded | undefined>; epoch: number }>();
  const clear = () => {
    cache?.clear();
    reading.clear();
  };
  if (cache) store.onRevoked?.(clear);
  // A store that is not shared (memory) sees every revocation itself.
  const epochOf = store.cacheEpoch ? () => store.cacheEpoch!() : () => 0;
  const forget = (ticket: string) => {
    cache?.delete(ticket);
    reading.delete(ticket);
  };

  // Expired entries are never served (load compares `until`), so they are dropped in one pass
  // per lifetime, or when the cache is full, not one by one from the front on every insert
  // (see dropOldest: with thousands of users that walk cost thousands of instructions a read).
  let sweepAt = 0;
  const remember = (ticket: string, value: Loaded, since: number, epoch: number) => {
    cache!.delete(ticket);
    if (since >= sweepAt || cache!.size >= MAX_CACHED) {
      // Entries go in at the end, so the map is in expiry order: the expired are at the front.
      for (const [key, entry] of cache!) {
        if (entry.until > since) break;
        cache!.delete(key);
      }
      // Still full of live entries (more users in a second than the bound): the oldest eighth goes.
      if (cache!.size >= MAX_CACHED) dropOldest(cache!, MAX_CACHED - MAX_CACHED / 8);
      sweepAt = since + cacheTtlMs;
    }
    cache!.set(ticket, { value, until: since + cacheTtlMs, epoch });
  };

  const readAndRemember = (ticket: string, epoch: number): Promise<Loaded | undefined> => {
    const since = Date.now();
    const pending: Promise<Loaded | undefined> = open(manager, ticket).then(
      (value) => {
        if (reading.get(ticket)?.pending !== pending) return value;
        reading.delete(ticket);
        // and only if no connection dropped while it was read
        if (epochOf() !== epoch) return value;
        if (value) remember(ticket, value, since, epoch);
        else cache!.delete(ticket);
        return value;
      },
      (err: unknown) => {
        if (reading.get(ticket)?.pending === pending) reading.delete(ticket);
        throw err;
      },
    );
    reading.set(ticket, { pending, epoch });
    return pending;
  };

  return {
    create: (data) => manager.create(data as unknown as Parameters<SessionManager['create']>[0]),
    // Not async: a cached session is returned as it is.
    load: (ticket, options) => {
      if (!cache) return open(manager, ticket);
      const epoch = epochOf();
      if (epoch === undefined) {
        clear();
        return open(manager, ticket);
      }
      if (options?.fresh) return open(manager, ticket);
      const hit = cache.get(ticket);
      if (hit && hit.until > Date.now() && hit.epoch === epoch) return hit.value;
      // A read that started before a reconnect is not shared after it.
      const inFlight = reading.get(ticket);
      return inFlight?.epoch === epoch ? inFlight.pending : readAndRemember(ticket, epoch);
    },
    // Forgotten before and after: a read that started while the write was under way must not stay.
    update: async (ticket, data) => {
      forget(ticket);
      try {
        return await manager.update(ticket, data as unknown as Parameters<SessionManager['update']>[1]);
      } finally {
        forget(ticket);
      }
    },
    revoke: async (ticket) => {
      forget(ticket);
      try {
        await manager.revoke(ticket);
      } finally {
        forget(ticket);
      }
    },
    revokeBySid: (sid) => {
      clear();
      return manager.revokeSid(sid);
    },
    revokeByUser: (user) => {
      clear();
      return manager.revokeUser(user);
    },
    claimOnce: async (key, ttlMs) => (await store.acquireLock(`once:${key}`, ttlMs)) !== undefined,
    withLock: (key, ttlMs, fn) => withLock(store, key, ttlMs, fn),
    ping: () => store.ping(),
    onRevoked: (callback) => store.onRevoked?.(callback),
    close: () => store.close(),
  };
}

async function open(manager: SessionManager, ticket: string): Promise<Loaded | undefined> {
  const s = await manager.load<AuthSessionData & Record<string, unknown>>(ticket);
  return s ? { id: s.id, data: s.data } : undefined;
}
