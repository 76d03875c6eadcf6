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

/**
 * Opened sessions may be kept in this process for up to cacheTtlMs (at most a second), saving
 * the unseal (and with Redis a round trip) on most requests. Any revocation, here or
 * on another instance (pub/sub), clears the cache; the short lifetime bounds the damage of a
 * lost message. Only sessions that exist are cached, so a new sign-in is visible at once.
 */
export function adapt(store: SessionStore, manager: SessionManager, cacheTtlMs = 0): Sessions {
  const cache = cacheTtlMs > 0 ? new Map<string, { value: Loaded; until: number }>() : undefined;
  if (cache) store.onRevoked?.(() => cache.clear());
  const forget = (ticket: string) => cache?.delete(ticket);
  return {
    create: (data) => manager.create(data as unknown as Parameters<SessionManager['create']>[0]),
    load: async (ticket) => {
      const now = Date.now();
      const hit = cache?.get(ticket);
      if (hit && hit.until > now) return hit.value;
      const s = await manager.load<AuthSessionData & Record<string, unknown>>(ticket);
      const value = s ? { id: s.id, data: s.data } : undefined;
      if (cache) {
        if (!value) cache.delete(ticket);
        else {
          if (cache.size >= 10_000) cache.delete(cache.keys().next().value!);
          cache.set(ticket, { value, until: now + cacheTtlMs });
        }
      }
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
