// Wire the session layer to what the login flow needs (src/auth/session-data.ts).
import type { CompiledConfig } from '../config/compile.ts';
import type { Logger } from '../log.ts';
import type { SessionData as AuthSessionData, Sessions } from '../auth/session-data.ts';
import { createSessionStore } from './config.ts';
import { SessionManager } from './sessions.ts';
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
const MAX_CACHED = 10_000;

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
  if (cache) store.onRevoked?.(() => cache.clear());
  // A store that is not shared (memory) sees every revocation itself.
  const epochOf = store.cacheEpoch ? () => store.cacheEpoch!() : () => 0;
  const forget = (ticket: string) => cache?.delete(ticket);

  const remember = (ticket: string, value: Loaded, now: number, epoch: number) => {
    // Entries go in at the end, so the map is in expiry order: drop the expired from the front.
    cache!.delete(ticket);
    for (const [key, entry] of cache!) {
      if (entry.until > now && cache!.size < MAX_CACHED) break;
      cache!.delete(key);
    }
    cache!.set(ticket, { value, until: now + cacheTtlMs, epoch });
  };

  return {
    create: (data) => manager.create(data as unknown as Parameters<SessionManager['create']>[0]),
    load: async (ticket, options) => {
      if (!cache) return open(manager, ticket);
      const epoch = epochOf();
      if (epoch === undefined) {
        cache.clear();
        return open(manager, ticket);
      }
      const now = Date.now();
      const hit = options?.fresh ? undefined : cache.get(ticket);
      if (hit && hit.until > now && hit.epoch === epoch) return hit.value;
      const value = await open(manager, ticket);
      if (!value) cache.delete(ticket);
      // Cached under the epoch from before the read: a reconnect during it makes the entry useless.
      else if (epochOf() === epoch) remember(ticket, value, Date.now(), epoch);
      return value;
    },
    update: (ticket, data) => {
      forget(ticket);
      return manager.update(ticket, data as unknown as Parameters<SessionManager['update']>[1]);
    },
    revoke: async (ticket) => {
      forget(ticket);
      await manager.revoke(ticket);
    },
    revokeBySid: (sid) => {
      cache?.clear();
      return manager.revokeSid(sid);
    },
    revokeByUser: (user) => {
      cache?.clear();
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
