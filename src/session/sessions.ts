// SessionManager: the one API the login flow and the request path use.
// Tickets, sealing and encoding happen here; the store only ever sees the
// ticket id, sealed bytes and hashed index fields.
//
// Fail closed: load() returns undefined only when there is definitely no
// valid session (unknown, expired, tampered, wrong secret). When the store
// cannot answer it throws StoreUnavailableError, which the caller turns into
// a 503; it must never be read as "no session needed".
import { formatTicket, generateTicket, isTicketId, parseTicket, type Ticket } from './ticket.ts';
import { seal, unseal } from './seal.ts';
import { dropOldest } from './bounded-map.ts';
import { decodeSessionData, encodeSessionData } from './codec.ts';
import { withLock, type LockResult, type SessionFilter, type SessionStore, type SessionTimes, type StoredSession, type WithLockOptions } from './store.ts';

/** What the login flow keeps in a session; opaque here except for the index fields. */
export interface SessionData extends Record<string, unknown> {
  readonly sub: string;
  readonly sid?: string | undefined;
  readonly email?: string | undefined;
}

export interface Lifetimes {
  /** the session ends after this long without use; slides on use */
  readonly idleMs: number;
  /** the session ends this long after login, however active */
  readonly absoluteMs: number;
}

export interface CreatedSession {
  /** the cookie value; give it to the browser and nowhere else */
  readonly ticket: string;
  readonly id: string;
  readonly expiresAt: number;
  readonly idleExpiresAt: number;
}

export interface LoadedSession<T extends SessionData = SessionData> extends SessionTimes {
  readonly id: string;
  readonly data: T;
  readonly idleExpiresAt: number;
  /** whether this load wrote to the store to slide the idle deadline */
  readonly touched: boolean;
}

/** Metadata for an admin listing: never tokens. sub/email/sid are filled in when the query names them. */
export interface SessionInfo extends SessionTimes {
  readonly id: string;
  readonly idleExpiresAt: number;
  readonly sub?: string;
  readonly email?: string;
  readonly sid?: string;
}

export type SessionQuery = { readonly user: string } | { readonly sid: string };

export interface SessionManagerOptions {
  readonly store: SessionStore;
  readonly lifetimes: Lifetimes;
  /** slide the idle deadline only when it would move by more than this share of the idle window; default 0.1 */
  readonly touchFraction?: number;
  readonly now?: () => number;
}

export type TouchPlan = { readonly touch: false } | { readonly touch: true; readonly ttlMs: number };

/**
 * Pure: should this request write to the store to slide the idle deadline?
 * Writing on every request would double the store traffic of the hot path,
 * so only when the deadline would move by more than fraction × idleMs. The
 * absolute end never moves.
 */
export function planTouch(times: SessionTimes & { idleExpiresAt: number }, now: number, fraction = 0.1): TouchPlan {
  const target = Math.min(now + times.idleMs, times.expiresAt);
  if (target - times.idleExpiresAt <= times.idleMs * fraction) return { touch: false };
  return { touch: true, ttlMs: target - now };
}

/** The record's times, authenticated with the sealed data so that editing them in the store breaks the seal. */
function boundTimes(times: SessionTimes): Buffer {
  const bytes = Buffer.alloc(18);
  bytes.writeUIntBE(times.createdAt, 0, 6);
  bytes.writeUIntBE(times.expiresAt, 6, 6);
  bytes.writeUIntBE(times.idleMs, 12, 6);
  return bytes;
}

/** The store holds the very record opened before: the same sealed bytes under the same bound times. */
function sameRecord(opened: Opened, stored: StoredSession): boolean {
  return opened.createdAt === stored.createdAt && opened.expiresAt === stored.expiresAt && opened.idleMs === stored.idleMs && Buffer.compare(opened.sealed, stored.sealed) === 0;
}

function isSessionData(value: unknown): value is SessionData {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const { sub, sid, email } = value as Record<string, unknown>;
  return typeof sub === 'string' && sub !== '' && (sid === undefined || typeof sid === 'string') && (email === undefined || typeof email === 'string');
}

/** A session as last opened: found again while the store holds the same record. */
interface Opened {
  readonly sealed: Uint8Array;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly idleMs: number;
  readonly data: SessionData;
}

/**
 * How many opened sessions are remembered (the most recently used). Opening (key derivation,
 * decryption, decompression, parsing) is about a third of a request that reads the store,
 * and the record stays the same from sign-in to the next refresh; a bound, not a tuning knob.
 */
export const MAX_OPENED = 4096;

function checkLifetimes({ idleMs, absoluteMs }: Lifetimes): void {
  if (!(Number.isInteger(idleMs) && idleMs > 0 && Number.isInteger(absoluteMs) && absoluteMs > 0)) {
    throw new RangeError('session lifetimes must be positive whole milliseconds');
  }
}

export class SessionManager {
  readonly store: SessionStore;
  readonly #lifetimes: Lifetimes;
  readonly #fraction: number;
  readonly #now: () => number;
  /**
   * Opened sessions by cookie value (ticket id and secret). Every load still reads the store
   * and checks expiry; only when the store returns exactly the bytes and times opened before
   * is the result of opening them used again, so a revoked, replaced or edited record is
   * never served from here.
   */
  readonly #opened = new Map<string, Opened>();

  constructor(options: SessionManagerOptions) {
    checkLifetimes(options.lifetimes);
    this.store = options.store;
    this.#lifetimes = options.lifetimes;
    this.#fraction = options.touchFraction ?? 0.1;
    this.#now = options.now ?? Date.now;
  }

  /** A new session under a new ticket: call at every login, never reuse a ticket across logins. */
  async create(data: SessionData, lifetimes: Lifetimes = this.#lifetimes): Promise<CreatedSession> {
    if (!isSessionData(data)) throw new TypeError('session data needs a non-empty string "sub" (and string "sid"/"email" when present)');
    checkLifetimes(lifetimes);
    const ticket = generateTicket();
    const createdAt = this.#now();
    const times: SessionTimes = { createdAt, expiresAt: createdAt + lifetimes.absoluteMs, idleMs: lifetimes.idleMs };
    const idleExpiresAt = Math.min(createdAt + lifetimes.idleMs, times.expiresAt);
    await this.store.put(ticket.id, this.#entry(ticket, data, times), idleExpiresAt - createdAt);
    return { ticket: formatTicket(ticket), id: ticket.id, expiresAt: times.expiresAt, idleExpiresAt };
  }

  /**
   * The session behind a cookie value, or undefined when there is none that is
   * valid. Costs one store round trip, plus one write when the idle deadline
   * needs sliding (see planTouch). Throws StoreUnavailableError when the store
   * does not answer.
   */
  async load<T extends SessionData = SessionData>(cookieValue: string | undefined): Promise<LoadedSession<T> | undefined> {
    const found = await this.#open(cookieValue);
    if (!found) return undefined;
    const { ticket, stored, data, now } = found;
    const plan = planTouch(stored, now, this.#fraction);
    let idleExpiresAt = stored.idleExpiresAt;
    if (plan.touch) {
      // false: revoked between our read and this write, so it is gone.
      if (!(await this.store.touch(ticket.id, plan.ttlMs))) return undefined;
      idleExpiresAt = now + plan.ttlMs;
    }
    const { createdAt, expiresAt, idleMs } = stored;
    return { id: ticket.id, data: data as T, createdAt, expiresAt, idleMs, idleExpiresAt, touched: plan.touch };
  }

  /**
   * Replace the data of a live session (after a token refresh, say), keeping
   * its lifetime and sliding its idle deadline. False when the session is
   * gone: an update never brings back a revoked session.
   */
  async update(cookieValue: string | undefined, data: SessionData): Promise<boolean> {
    if (!isSessionData(data)) throw new TypeError('session data needs a non-empty string "sub" (and string "sid"/"email" when present)');
    const found = await this.#open(cookieValue);
    if (!found) return false;
    const { ticket, stored, now } = found;
    if (found.data.sub !== data.sub) throw new TypeError('a session cannot change its subject; create a new session at login instead');
    const ttlMs = Math.min(now + stored.idleMs, stored.expiresAt) - now;
    if (cookieValue) this.#opened.delete(cookieValue);
    return this.store.replace(ticket.id, this.#entry(ticket, data, stored), ttlMs);
  }

  /** Log out: delete the session behind this cookie value (only if the cookie really opens it). */
  async revoke(cookieValue: string | undefined): Promise<boolean> {
    const found = await this.#open(cookieValue);
    if (cookieValue) this.#opened.delete(cookieValue);
    return found ? this.store.delete(found.ticket.id) : false;
  }

  /** Admin: delete one session by id, as shown by list(). */
  async revokeId(id: string): Promise<boolean> {
    this.#forgetOpened();
    return isTicketId(id) ? this.store.delete(id) : false;
  }

  /** Delete every session of a user, whether named by OIDC subject or by email. */
  async revokeUser(subOrEmail: string): Promise<number> {
    this.#forgetOpened();
    const [bySub, byEmail] = await Promise.all([this.store.deleteMatching({ sub: subOrEmail }), this.store.deleteMatching({ email: subOrEmail })]);
    return bySub + byEmail;
  }

  /** Back-channel logout: delete every session of one identity provider session. */
  async revokeSid(sid: string): Promise<number> {
    this.#forgetOpened();
    return this.store.deleteMatching({ sid });
  }

  async revokeAll(): Promise<number> {
    this.#forgetOpened();
    return this.store.deleteAll();
  }

  async list(query: SessionQuery): Promise<SessionInfo[]> {
    const filters: SessionFilter[] = 'user' in query ? [{ sub: query.user }, { email: query.user }] : [{ sid: query.sid }];
    const byId = new Map<string, SessionInfo>();
    for (const filter of filters) {
      for (const summary of await this.store.list(filter)) {
        byId.set(summary.id, { ...byId.get(summary.id), ...summary, ...filter });
      }
    }
    return [...byId.values()].sort((a, b) => a.createdAt - b.createdAt);
  }

  /**
   * Run fn while no other instance holds this session's refresh lock, so one
   * refresh token is redeemed once. { acquired: false } when another instance
   * kept it for waitMs: reload the session and use what it stored.
   */
  async withRefreshLock<T>(id: string, fn: () => Promise<T>, options: WithLockOptions & { ttlMs?: number } = {}): Promise<LockResult<T>> {
    return withLock(this.store, `refresh:${id}`, options.ttlMs ?? 15_000, fn, options);
  }

  #entry(ticket: Ticket, data: SessionData, times: SessionTimes) {
    const sealed = seal(ticket, encodeSessionData(data), boundTimes(times));
    return { ...times, sealed, sub: data.sub, sid: data.sid, email: data.email };
  }

  /** Parse, fetch, check lifetime and open; undefined for anything but a valid live session. */
  async #open(cookieValue: string | undefined) {
    if (cookieValue === undefined) return undefined;
    const ticket = parseTicket(cookieValue);
    if (!ticket) return undefined;
    const stored = await this.store.get(ticket.id);
    if (!stored) return undefined;
    const now = this.#now();
    if (now >= stored.expiresAt || now >= stored.idleExpiresAt) return undefined;
    const opened = this.#opened.get(cookieValue);
    if (opened && sameRecord(opened, stored)) {
      // Most recently used last, so the bound drops the longest unused.
      this.#opened.delete(cookieValue);
      this.#opened.set(cookieValue, opened);
      return { ticket, stored, data: opened.data, now };
    }
    const plaintext = unseal(ticket, stored.sealed, boundTimes(stored));
    // A wrong secret is not a reason to delete: whoever knows only an id must not be able to log someone out.
    const data = plaintext && decodeSessionData(plaintext);
    if (!isSessionData(data)) return undefined;
    this.#remember(cookieValue, stored, data);
    return { ticket, stored, data, now };
  }

  /** After an admin's revocation: the revoked sessions' records are gone anyway; their opened data need not stay in memory. */
  #forgetOpened(): void {
    this.#opened.clear();
  }

  #remember(cookieValue: string, stored: StoredSession, data: SessionData): void {
    this.#opened.delete(cookieValue);
    // Past the bound the least recently used eighth goes at once (see dropOldest).
    if (this.#opened.size >= MAX_OPENED) dropOldest(this.#opened, MAX_OPENED - MAX_OPENED / 8);
    const { createdAt, expiresAt, idleMs } = stored;
    // A copy, as what a store hands out may be a view of memory it reuses; in memory of its own,
    // as a copy from Buffer's shared pool would keep a whole 8 KiB slab alive for as long as it is kept.
    this.#opened.set(cookieValue, { sealed: new Uint8Array(stored.sealed), createdAt, expiresAt, idleMs, data });
  }
}
