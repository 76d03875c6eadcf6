// The session store interface both backends implement (memory-store.ts,
// redis-store.ts) and the shared contract suite checks
// (test/contract/session-store.contract.ts).
//
// A store keeps sealed bytes plus the few fields it needs to expire, index and
// revoke sessions. It never sees a ticket secret and never stores a user
// identifier in clear: sub, sid and email are kept only as SHA-256 hashes.
import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

export interface SessionTimes {
  /** ms since the epoch */
  readonly createdAt: number;
  /** absolute end of the session; never slides */
  readonly expiresAt: number;
  /** idle window; the store drops the entry when it is not touched for this long */
  readonly idleMs: number;
}

export interface SessionEntry extends SessionTimes {
  /** output of seal(); opaque to the store */
  readonly sealed: Uint8Array;
  /** index fields: hashed by the store before they are kept anywhere */
  readonly sub: string;
  readonly sid?: string | undefined;
  readonly email?: string | undefined;
}

export interface StoredSession extends SessionTimes {
  readonly sealed: Uint8Array;
  /** when the store will drop the entry unless it is touched (never after expiresAt) */
  readonly idleExpiresAt: number;
}

export interface SessionSummary extends SessionTimes {
  readonly id: string;
  readonly idleExpiresAt: number;
}

/** Which sessions: those of a user (by OIDC subject or by email) or of one identity provider session. */
export type SessionFilter = { readonly sub: string } | { readonly email: string } | { readonly sid: string };

export interface SessionStore {
  readonly kind: 'memory' | 'redis';
  /** Store a new session; it disappears after ttlMs unless touched. */
  put(id: string, entry: SessionEntry, ttlMs: number): Promise<void>;
  /** Overwrite a session only if it still exists, so an update racing a revocation cannot bring it back. */
  replace(id: string, entry: SessionEntry, ttlMs: number): Promise<boolean>;
  get(id: string): Promise<StoredSession | undefined>;
  /** Extend the idle deadline to now + ttlMs; false when the session is gone. */
  touch(id: string, ttlMs: number): Promise<boolean>;
  delete(id: string): Promise<boolean>;
  list(filter: SessionFilter): Promise<SessionSummary[]>;
  /** Delete every session matching the filter; returns how many. */
  deleteMatching(filter: SessionFilter): Promise<number>;
  deleteAll(): Promise<number>;
  /** A lock shared by every instance using this store: a token when acquired, undefined when someone else holds it. */
  acquireLock(key: string, ttlMs: number): Promise<string | undefined>;
  /** Release only if the token still owns the lock (it may have expired and been taken by another). */
  releaseLock(key: string, token: string): Promise<boolean>;
  /** Resolves when the store answers; throws StoreUnavailableError otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
  /**
   * Call back whenever any instance sharing this store revoked sessions, so open
   * WebSockets are checked at once instead of at their next interval.
   */
  onRevoked?(callback: () => void): void;
  /**
   * For the in-process cache of opened sessions: a number that stays the same while every
   * revocation is sure to reach onRevoked here, and undefined while it is not (a connection
   * down, or back but not yet resubscribed). A store without it lives in this process, where
   * every revocation is seen.
   */
  cacheEpoch?(): number | undefined;
}

/**
 * The store could not be reached or did not answer in time. Callers must fail
 * closed: answer 503, never treat it as "no session".
 */
export class StoreUnavailableError extends Error {
  readonly code = 'session_store_unavailable';
  override readonly name = 'StoreUnavailableError';
  readonly operation: string;

  constructor(operation: string, cause?: unknown) {
    const reason = cause instanceof Error ? cause.message : 'no answer';
    super(
      `The session store did not complete "${operation}" (${reason}). Requests that need a session are refused until it answers again; check that Redis is running and reachable from Portcullis.`,
      { cause },
    );
    this.operation = operation;
  }
}

/** The hash under which an index field is kept: SHA-256 truncated to 128 bits, base64url. */
export function indexHash(kind: 'sub' | 'sid' | 'email', value: string): string {
  // Kinds are hashed apart, so a subject that happens to equal someone's
  // email never matches it. Emails compare case-insensitively, so revoking
  // "Ann@Example.com" also finds sessions created as "ann@example.com".
  const normalized = kind === 'email' ? value.trim().toLowerCase() : value;
  return createHash('sha256').update(`${kind}\0${normalized}`).digest().subarray(0, 16).toString('base64url');
}

export function entryIndexHashes(entry: Pick<SessionEntry, 'sub' | 'sid' | 'email'>): string[] {
  const hashes = [indexHash('sub', entry.sub)];
  if (entry.sid) hashes.push(indexHash('sid', entry.sid));
  if (entry.email) hashes.push(indexHash('email', entry.email));
  return hashes;
}

export function filterHash(filter: SessionFilter): string {
  if ('sub' in filter) return indexHash('sub', filter.sub);
  if ('email' in filter) return indexHash('email', filter.email);
  return indexHash('sid', filter.sid);
}

export function newLockToken(): string {
  return randomBytes(16).toString('base64url');
}

/** What a store logs through: any pino logger fits. */
export interface StoreLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

/**
 * Run a store's revocation listeners (onRevoked). The revocation has happened by then: a
 * listener that throws must neither make it look failed nor keep the others from hearing of
 * it. It is logged: the listeners are Portcullis's own (clear the session cache, re-check
 * open WebSockets), and one that failed leaves a revoked session usable here for a while.
 */
export function tellRevoked(listeners: readonly (() => void)[], logger?: StoreLogger): void {
  for (const listener of listeners) {
    try {
      listener();
    } catch (err) {
      logger?.warn(
        { type: 'session', event: 'revocation_listener_failed', err },
        'a revocation listener failed: a revoked session may still be served from this process for up to session.cache_ttl, and its open WebSockets are closed only at the next websockets.recheck_interval',
      );
    }
  }
}

export type LockResult<T> = { readonly acquired: true; readonly value: T } | { readonly acquired: false };

export interface WithLockOptions {
  /** how long to keep trying when another instance holds the lock (default 0: try once) */
  waitMs?: number;
}

/**
 * Run fn while holding the store-wide lock `key` (for example "one token
 * refresh at a time per session across all instances"). The lock expires
 * after ttlMs even if this process dies, so fn must finish well within it.
 * Returns { acquired: false } when the lock stayed taken for waitMs.
 */
export async function withLock<T>(store: SessionStore, key: string, ttlMs: number, fn: () => Promise<T>, options: WithLockOptions = {}): Promise<LockResult<T>> {
  const deadline = Date.now() + (options.waitMs ?? 0);
  let pause = 10;
  let token = await store.acquireLock(key, ttlMs);
  while (token === undefined && Date.now() < deadline) {
    await sleep(Math.min(pause, Math.max(1, deadline - Date.now())));
    pause = Math.min(pause * 2, 100);
    token = await store.acquireLock(key, ttlMs);
  }
  if (token === undefined) return { acquired: false };
  try {
    return { acquired: true, value: await fn() };
  } finally {
    // If the store went away meanwhile, the lock's TTL frees it.
    await store.releaseLock(key, token).catch(() => false);
  }
}
