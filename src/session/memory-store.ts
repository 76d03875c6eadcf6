// In-process session store for a single instance (and tests). Sessions vanish
// on restart. Expiry is checked on every read; the size is bounded, and when
// it is full the oldest-written session is evicted, so memory cannot grow
// without limit however many logins arrive.
import {
  StoreUnavailableError,
  entryIndexHashes,
  filterHash,
  newLockToken,
  type SessionEntry,
  type SessionFilter,
  type SessionStore,
  type SessionSummary,
  type StoredSession,
} from './store.ts';

export interface MemoryStoreOptions {
  /** default 100,000 */
  maxSessions?: number;
  /** clock, for tests */
  now?: () => number;
}

interface Held extends StoredSession {
  readonly hashes: readonly string[];
}

export class MemorySessionStore implements SessionStore {
  readonly kind = 'memory';
  readonly #sessions = new Map<string, Held>(); // insertion order = write order, oldest first
  readonly #index = new Map<string, Set<string>>();
  readonly #locks = new Map<string, { token: string; expiresAt: number }>();
  readonly #max: number;
  readonly #now: () => number;
  #closed = false;

  constructor(options: MemoryStoreOptions = {}) {
    this.#max = options.maxSessions ?? 100_000;
    this.#now = options.now ?? Date.now;
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
    const { sealed, createdAt, expiresAt, idleMs, idleExpiresAt } = held;
    return { sealed, createdAt, expiresAt, idleMs, idleExpiresAt };
  }

  async touch(id: string, ttlMs: number): Promise<boolean> {
    this.#open('touch');
    const held = this.#live(id);
    if (!held) return false;
    this.#sessions.set(id, { ...held, idleExpiresAt: this.#now() + ttlMs });
    return true;
  }

  readonly #revokedCallbacks: (() => void)[] = [];

  onRevoked(callback: () => void): void {
    this.#revokedCallbacks.push(callback);
  }

  #announceRevocation(count: number): void {
    if (count > 0) for (const cb of this.#revokedCallbacks) queueMicrotask(cb);
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
    for (const id of this.#index.get(filterHash(filter)) ?? []) {
      const held = this.#live(id);
      if (held) out.push({ id, createdAt: held.createdAt, expiresAt: held.expiresAt, idleMs: held.idleMs, idleExpiresAt: held.idleExpiresAt });
    }
    return out;
  }

  async deleteMatching(filter: SessionFilter): Promise<number> {
    this.#open('deleteMatching');
    let count = 0;
    for (const id of [...(this.#index.get(filterHash(filter)) ?? [])]) {
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

  /** The entry if it has not expired; an expired one is removed on the spot. */
  #live(id: string): Held | undefined {
    const held = this.#sessions.get(id);
    if (!held) return undefined;
    const now = this.#now();
    if (now < held.idleExpiresAt && now < held.expiresAt) return held;
    this.#remove(id);
    return undefined;
  }

  #write(id: string, entry: SessionEntry, ttlMs: number): void {
    this.#remove(id); // re-inserting moves it to the young end of the eviction order
    const hashes = entryIndexHashes(entry);
    const { createdAt, expiresAt, idleMs } = entry;
    // A copy of its own: a small Buffer is often a view into Node's shared 8 KiB-64 KiB pool,
    // and keeping the view would keep the whole pool block alive (34 KiB per session measured).
    const sealed = new Uint8Array(entry.sealed);
    this.#sessions.set(id, { sealed, createdAt, expiresAt, idleMs, idleExpiresAt: this.#now() + ttlMs, hashes });
    for (const hash of hashes) {
      let ids = this.#index.get(hash);
      if (!ids) this.#index.set(hash, (ids = new Set()));
      ids.add(id);
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
    if (!held) return;
    this.#sessions.delete(id);
    for (const hash of held.hashes) {
      const ids = this.#index.get(hash);
      ids?.delete(id);
      if (ids?.size === 0) this.#index.delete(hash);
    }
  }
}
