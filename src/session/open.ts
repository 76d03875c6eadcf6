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
  return { sessions: adapt(store, manager), manager };
}

export function adapt(store: SessionStore, manager: SessionManager): Sessions {
  return {
    create: (data) => manager.create(data as unknown as Parameters<SessionManager['create']>[0]),
    load: async (ticket) => {
      const s = await manager.load<AuthSessionData & Record<string, unknown>>(ticket);
      return s ? { id: s.id, data: s.data } : undefined;
    },
    update: (ticket, data) => manager.update(ticket, data as unknown as Parameters<SessionManager['update']>[1]),
    revoke: async (ticket) => {
      await manager.revoke(ticket);
    },
    revokeBySid: (sid) => manager.revokeSid(sid),
    revokeByUser: (user) => manager.revokeUser(user),
    claimOnce: async (key, ttlMs) => (await store.acquireLock(`once:${key}`, ttlMs)) !== undefined,
    withLock: (key, ttlMs, fn) => withLock(store, key, ttlMs, fn),
    ping: () => store.ping(),
    onRevoked: (callback) => store.onRevoked?.(callback),
    close: () => store.close(),
  };
}
