// In-process session store for a single instance (and tests). Sessions vanish
// on restart. Expiry is checked on every read; the size is bounded, and when
// it is full the oldest-written session is evicted, so memory cannot grow
// without limit however many logins arrive.
//
// Memory: 100,000 sessions (the default bound) must fit in a few hundred MiB,
// so each session is held as ONE string of one byte per character (latin1):
//
//   createdAt (6) | expiresAt (6) | idleMs (6) | idleExpiresAt (6) |
//   hash count n (1) | n × index hash (16) | sealed bytes
//
// A string lives in the V8 heap, which compacts: no typed array, backing store
// and malloc block per session, no record object with boxed numbers and an
// array of hashes. The index holds a user's one session id directly and only
// switches to a Set for a second one. No timers: expiry is checked on read.
// Besides its sealed bytes a session costs about 0.35 KiB this way, against
// about 1.3 KiB in the previous layout (npm run bench:sessions, live V8 heap
// and external memory).
import {
  StoreUnavailableError,
  entryIndexHashes,
  filterHash,
  newLockToken,
  tellRevoked,
  type SessionEntry,
  type SessionFilter,
  type SessionStore,
  type SessionSummary,
  type StoreLogger,
  type StoredSession,
} from './store.ts';

export interface MemoryStoreOptions {
  /** default 100,000 */
  maxSessions?: number;
  /** clock, for tests */
  now?: () => number;
  logger?: StoreLogger;
}

const CREATED_AT = 0;
const EXPIRES_AT = 6;
const IDLE_MS = 12;
const IDLE_EXPIRES_AT = 18;
const HASH_COUNT = 24;
const HASHES = 25;
const HASH_BYTES = 16;

/** One session: the layout above, one byte per character. */
type Held = string;

function readTime(held: Held, at: number): number {
  let value = 0;
  for (let i = at; i < at + 6; i++) value = value * 256 + held.charCodeAt(i);
  return value;
}

const headerBytes = (held: Held): number => HASHES + held.charCodeAt(HASH_COUNT) * HASH_BYTES;

function hashesOf(held: Held): string[] {
  const hashes: string[] = [];
  for (let i = 0, at = HASHES; i < held.charCodeAt(HASH_COUNT); i++, at += HASH_BYTES) hashes.push(Buffer.from(held.slice(at, at + HASH_BYTES), 'latin1').toString('base64url'));
  return hashes;
}

function timesOf(held: Held) {
  return { createdAt: readTime(held, CREATED_AT), expiresAt: readTime(held, EXPIRES_AT), idleMs: readTime(held, IDLE_MS), idleExpiresAt: readTime(held, IDLE_EXPIRES_AT) };
}

function pack(entry: SessionEntry, idleExpiresAt: number, hashes: readonly string[]): Held {
  const header = Buffer.allocUnsafe(HASHES + hashes.length * HASH_BYTES);
  header.writeUIntBE(entry.createdAt, CREATED_AT, 6);
  header.writeUIntBE(entry.expiresAt, EXPIRES_AT, 6);
  header.writeUIntBE(entry.idleMs, IDLE_MS, 6);
  header.writeUIntBE(idleExpiresAt, IDLE_EXPIRES_AT, 6);
  header[HASH_COUNT] = hashes.length;
  hashes.forEach((hash, i) => Buffer.from(hash, 'base64url').copy(header, HASHES + i * HASH_BYTES));
  // toString copies into a fresh heap string: nothing keeps the caller's buffer (or the
  // 8 KiB pool slab a small Buffer is often a view into) alive.
  return Buffer.concat([header, entry.sealed]).toString('latin1');
}

/**
 * A flat copy of an id: one sliced out of a cookie value (parseTicket) would otherwise keep
 * the whole cookie, ticket secret included, alive for as long as the session.
 */
const own = (id: string): string => Buffer.from(id, 'latin1').toString('latin1');

export class MemorySessionStore implements SessionStore {
  readonly kind = 'memory';
  readonly #sessions = new Map<string, Held>(); // insertion order = write order, oldest first
  /** index hash -> the id of its one session, or a Set of ids once there are several */
  readonly #index = new Map<string, string | Set<string>>();
  readonly #locks = new Map<string, { token: string; expiresAt: number }>();
  readonly #max: number;
  readonly #now: () => number;
  readonly #logger: StoreLogger | undefined;
  #closed = false;

  constructor(options: MemoryStoreOptions = {}) {
    this.#max = options.maxSessions ?? 100_000;
    this.#now = options.now ?? Date.now;
    this.#logger = options.logger;
    if (!Number.isInteger(this.#max) || this.#max < 1) throw new RangeError('maxSessions must be a positive integer');
  }

  get size(): number {
    return this.#sessions.size;
  }

  async put(id: string, entry: SessionEntry, ttlMs: number): Promise<void> {
    this.#open('put');
    this.#write(id, entry, ttlMs);
  }

  async replace(id: string, entry: SessionEntry, ttlMs: number): Promise<boolean> {
    this.#open('replace');
    if (!this.#live(id)) return false;
    this.#write(id, entry, ttlMs);
    return true;
  }

  async get(id: string): Promise<StoredSession | undefined> {
    this.#open('get');
    const held = this.#live(id);
    if (!held) return undefined;
    return { sealed: Buffer.from(held.slice(headerBytes(held)), 'latin1'), ...timesOf(held) };
  }

  async touch(id: string, ttlMs: number): Promise<boolean> {
    this.#open('touch');
    const held = this.#live(id);
    if (!held) return false;
    // Rewritten through a Buffer, not spliced: a spliced string would be a rope holding the old one.
    const bytes = Buffer.from(held, 'latin1');
    bytes.writeUIntBE(Math.ceil(this.#now() + ttlMs), IDLE_EXPIRES_AT, 6);
    this.#sessions.set(id, bytes.toString('latin1'));
    return true;
  }

  readonly #revokedCallbacks: (() => void)[] = [];

  onRevoked(callback: () => void): void {
    this.#revokedCallbacks.push(callback);
  }

  #announceRevocation(count: number): void {
    if (count > 0) queueMicrotask(() => tellRevoked(this.#revokedCallbacks, this.#logger));
  }

  async delete(id: string): Promise<boolean> {
    this.#open('delete');
    const existed = this.#live(id) !== undefined;
    this.#remove(id);
    this.#announceRevocation(existed ? 1 : 0);
    return existed;
  }

  async list(filter: SessionFilter): Promise<SessionSummary[]> {
    this.#open('list');
    const out: SessionSummary[] = [];
    for (const id of this.#ids(filterHash(filter))) {
      const held = this.#live(id);
      if (held) out.push({ id, ...timesOf(held) });
    }
    return out;
  }

  async deleteMatching(filter: SessionFilter): Promise<number> {
    this.#open('deleteMatching');
    let count = 0;
    for (const id of this.#ids(filterHash(filter))) {
      if (this.#live(id)) count++;
      this.#remove(id);
    }
    this.#announceRevocation(count);
    return count;
  }

  async deleteAll(): Promise<number> {
    this.#open('deleteAll');
    let count = 0;
    for (const id of [...this.#sessions.keys()]) if (this.#live(id)) count++;
    this.#sessions.clear();
    this.#index.clear();
    this.#announceRevocation(count);
    return count;
  }

  async acquireLock(key: string, ttlMs: number): Promise<string | undefined> {
    this.#open('acquireLock');
    const held = this.#locks.get(key);
    if (held && held.expiresAt > this.#now()) return undefined;
    const token = newLockToken();
    this.#locks.set(key, { token, expiresAt: this.#now() + ttlMs });
    return token;
  }

  async releaseLock(key: string, token: string): Promise<boolean> {
    this.#open('releaseLock');
    const held = this.#locks.get(key);
    if (!held || held.token !== token || held.expiresAt <= this.#now()) return false;
    this.#locks.delete(key);
    return true;
  }

  async ping(): Promise<void> {
    this.#open('ping');
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#sessions.clear();
    this.#index.clear();
    this.#locks.clear();
  }

  #open(operation: string): void {
    if (this.#closed) throw new StoreUnavailableError(operation, new Error('the store is closed'));
  }

  /** A copy of the ids under an index hash, safe to iterate while removing. */
  #ids(hash: string): string[] {
    const ids = this.#index.get(hash);
    return ids === undefined ? [] : typeof ids === 'string' ? [ids] : [...ids];
  }

  /** The entry if it has not expired; an expired one is removed on the spot. */
  #live(id: string): Held | undefined {
    const held = this.#sessions.get(id);
    if (held === undefined) return undefined;
    const now = this.#now();
    if (now < readTime(held, IDLE_EXPIRES_AT) && now < readTime(held, EXPIRES_AT)) return held;
    this.#remove(id);
    return undefined;
  }

  #write(id: string, entry: SessionEntry, ttlMs: number): void {
    this.#remove(id); // re-inserting moves it to the young end of the eviction order
    const key = own(id);
    const hashes = entryIndexHashes(entry);
    this.#sessions.set(key, pack(entry, Math.ceil(this.#now() + ttlMs), hashes));
    for (const hash of hashes) {
      const ids = this.#index.get(hash);
      if (ids === undefined) this.#index.set(hash, key);
      else if (typeof ids !== 'string') ids.add(key);
      else if (ids !== key) this.#index.set(hash, new Set([ids, key]));
    }
    this.#sweep();
  }

  /** Drop a couple of expired entries from the old end, then evict the oldest while over the limit. */
  #sweep(): void {
    let checked = 0;
    for (const id of this.#sessions.keys()) {
      if (checked++ >= 2) break;
      this.#live(id);
    }
    while (this.#sessions.size > this.#max) {
      const oldest = this.#sessions.keys().next().value;
      if (oldest === undefined) break;
      this.#remove(oldest);
    }
  }

  #remove(id: string): void {
    const held = this.#sessions.get(id);
    if (held === undefined) return;
    this.#sessions.delete(id);
    for (const hash of hashesOf(held)) {
      const ids = this.#index.get(hash);
      if (ids === undefined) continue;
      if (typeof ids === 'string') {
        if (ids === id) this.#index.delete(hash);
        continue;
      }
      ids.delete(id);
      if (ids.size === 1) this.#index.set(hash, ids.values().next().value!);
      else if (ids.size === 0) this.#index.delete(hash);
    }
  }
}
