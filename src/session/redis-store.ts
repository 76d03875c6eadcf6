// Session store in Redis (standalone, Sentinel or Cluster) for several
// Portcullis instances sharing sessions.
//
// Key layout (P = the configured key prefix, "portcullis:" by default):
//
//   P s:{<id>}      string  one session: binary record (header + sealed bytes),
//                           PEXPIRE = idle deadline (never past the absolute end)
//   P i:{<hash>}    set     ids of the sessions of one sub, email or sid; <hash> is
//                           SHA-256/128 of the value, so a dump lists no user
//   P l:{<hash>}    string  a lock (SET NX PX, released by compare-and-delete)
//
// Every command and every script touches exactly one key, so nothing depends
// on two keys sharing a Cluster slot and each operation goes to one node. The
// hash tag wraps the variable part so the shared prefix never decides the
// slot (keys spread over the cluster), and a future per-session key written
// as "P x:{<id>}" would land on its session's slot for a one-slot script.
// Because a user's index and their sessions live on different slots, writes
// are ordered instead of atomic: the index entry is written before the
// session and removed after it, so a live session is always findable for
// revocation; a dangling index entry is harmless and pruned on the next write
// or listing. Index keys expire no earlier than the longest session in them.
//
// Record: version (1) | hash count n (1) | createdAt (6) | expiresAt (6) |
// idleMs (6) | n × index hash (16 each) | sealed bytes. Raw bytes, no JSON or
// base64, to keep a session small.
import { createHash } from 'node:crypto';
import type { ConnectionOptions } from 'node:tls';
import { Redis, Cluster, type RedisOptions, type ClusterOptions } from 'ioredis';
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

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export type RedisTarget =
  | { readonly mode: 'standalone'; readonly url: string }
  | {
      readonly mode: 'sentinel';
      readonly sentinels: readonly HostPort[];
      readonly master: string;
      readonly username?: string | undefined;
      readonly password?: string | undefined;
      readonly sentinelPassword?: string | undefined;
      readonly db?: number | undefined;
    }
  | { readonly mode: 'cluster'; readonly nodes: readonly HostPort[]; readonly username?: string | undefined; readonly password?: string | undefined };

export interface RedisStoreOptions {
  readonly target: RedisTarget;
  /** TLS for the data nodes (and the sentinels); a rediss:// URL enables TLS by itself */
  readonly tls?: ConnectionOptions | undefined;
  /** default "portcullis:"; must not contain "{" or "}" (they would change Cluster hash slots) */
  readonly keyPrefix?: string | undefined;
  /** a command without an answer after this long fails with StoreUnavailableError; default 500 ms */
  readonly commandTimeoutMs?: number | undefined;
  readonly logger?: StoreLogger | undefined;
}

const RECORD_VERSION = 1;
const HASH_BYTES = 16;
const FIXED_HEADER = 2 + 6 + 6 + 6;
const MAX_HEADER = FIXED_HEADER + 3 * HASH_BYTES;
/** index keys outlive their newest session by this much, so a slow clock never drops an index early */
const INDEX_TTL_MARGIN_MS = 60_000;
const SESSION_ID = /^[A-Za-z0-9_-]{16,64}$/;

// Lua, one key each (see the layout above).
const SCRIPTS = {
  // -> nil when missing, else { value or its first ARGV[1] bytes, PTTL }
  portcullisRead: {
    numberOfKeys: 1,
    lua: `local ttl = redis.call('PTTL', KEYS[1])
if ttl == -2 then return false end
local n = tonumber(ARGV[1])
local v
if n > 0 then v = redis.call('GETRANGE', KEYS[1], 0, n - 1) else v = redis.call('GET', KEYS[1]) end
return { v, ttl }`,
  },
  // add a session id to an index and make the index live at least ARGV[2] ms; -> set size
  portcullisIndexAdd: {
    numberOfKeys: 1,
    lua: `redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return redis.call('SCARD', KEYS[1])`,
  },
  // delete the lock only if this token still holds it
  portcullisUnlock: {
    numberOfKeys: 1,
    lua: `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`,
  },
} as const;

interface ScriptCommands {
  portcullisReadBuffer(key: string, bytes: number): Promise<[Buffer, number] | null>;
  portcullisIndexAdd(key: string, id: string, ttlMs: number): Promise<number>;
  portcullisUnlock(key: string, token: string): Promise<number>;
}

type Client = (Redis | Cluster) & ScriptCommands;

interface RecordHeader {
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly idleMs: number;
  readonly hashes: string[];
  readonly headerBytes: number;
}

export function encodeRecord(entry: SessionEntry, hashes: readonly string[]): Buffer {
  const header = Buffer.alloc(FIXED_HEADER + hashes.length * HASH_BYTES);
  header[0] = RECORD_VERSION;
  header[1] = hashes.length;
  header.writeUIntBE(entry.createdAt, 2, 6);
  header.writeUIntBE(entry.expiresAt, 8, 6);
  header.writeUIntBE(entry.idleMs, 14, 6);
  hashes.forEach((hash, i) => Buffer.from(hash, 'base64url').copy(header, FIXED_HEADER + i * HASH_BYTES));
  return Buffer.concat([header, entry.sealed]);
}

export function decodeRecordHeader(record: Buffer): RecordHeader | undefined {
  if (record.length < FIXED_HEADER || record[0] !== RECORD_VERSION) return undefined;
  const count = record[1]!;
  const headerBytes = FIXED_HEADER + count * HASH_BYTES;
  if (count > 3 || record.length < headerBytes) return undefined;
  const hashes: string[] = [];
  for (let i = 0; i < count; i++) hashes.push(record.subarray(FIXED_HEADER + i * HASH_BYTES, FIXED_HEADER + (i + 1) * HASH_BYTES).toString('base64url'));
  return { createdAt: record.readUIntBE(2, 6), expiresAt: record.readUIntBE(8, 6), idleMs: record.readUIntBE(14, 6), hashes, headerBytes };
}

/** Reconnect quickly and forever: service must resume by itself within about a second of Redis coming back. */
function quickRetry(attempt: number): number {
  return Math.min(50 * 2 ** Math.min(attempt, 5), 1000);
}

function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/** Exported for the rate limiter's own connection, which wants the same fast-failing settings. */
export function clientFor(options: RedisStoreOptions): Client {
  const commandTimeout = options.commandTimeoutMs ?? 500;
  // Fail closed and fast: no offline queue (a command while disconnected is
  // rejected at once), in-flight commands are failed on disconnect instead of
  // being re-sent later, and a silent server (network partition, paused
  // process) costs at most commandTimeout.
  const common: RedisOptions = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout,
    connectTimeout: Math.max(1000, commandTimeout * 2),
    retryStrategy: quickRetry,
    scripts: SCRIPTS,
    ...(options.tls ? { tls: options.tls } : {}),
  };
  const target = options.target;
  if (target.mode === 'standalone') return new Redis(target.url, common) as Client;
  if (target.mode === 'sentinel') {
    return new Redis({
      ...common,
      sentinels: target.sentinels.map(({ host, port }) => ({ host, port })),
      name: target.master,
      username: target.username,
      password: target.password,
      sentinelPassword: target.sentinelPassword,
      db: target.db ?? 0,
      sentinelRetryStrategy: quickRetry,
      ...(options.tls ? { enableTLSForSentinelMode: true, sentinelTLS: options.tls } : {}),
    }) as Client;
  }
  const { enableOfflineQueue: _queue, retryStrategy: _retry, ...nodeOptions } = common;
  const clusterOptions: ClusterOptions = {
    enableOfflineQueue: false,
    clusterRetryStrategy: quickRetry,
    scripts: SCRIPTS,
    redisOptions: { ...nodeOptions, username: target.username, password: target.password },
    // With TLS, connect by the configured host names: managed clusters (ElastiCache) present
    // certificates for those names, not for the node IPs a DNS lookup would turn them into.
    ...(options.tls ? { dnsLookup: (address: string, callback: (err: null, address: string) => void) => callback(null, address) } : {}),
  };
  return new Cluster(
    target.nodes.map(({ host, port }) => ({ host, port })),
    clusterOptions,
  ) as Client;
}

/** Only the message and code of a client error travel on: ioredis errors can carry command arguments. */
function unavailable(operation: string, error: unknown): StoreUnavailableError {
  if (error instanceof StoreUnavailableError) return error;
  const original = error as { message?: unknown; code?: unknown } | undefined;
  const cause = new Error(typeof original?.message === 'string' ? original.message : 'unknown error');
  if (typeof original?.code === 'string') Object.assign(cause, { code: original.code });
  return new StoreUnavailableError(operation, cause);
}

export class RedisSessionStore implements SessionStore {
  readonly kind = 'redis';
  readonly keyPrefix: string;
  readonly #client: Client;
  readonly #logger: StoreLogger | undefined;
  #down = false;
  #subscriber: Client | undefined;
  #subscribed = false;
  /** bumped whenever revocation messages could have been missed (see cacheEpoch) */
  #epoch = 0;

  constructor(options: RedisStoreOptions) {
    this.keyPrefix = options.keyPrefix ?? 'portcullis:';
    if (/[{}]/.test(this.keyPrefix)) throw new TypeError('the Redis key prefix must not contain "{" or "}": they would change which Cluster slot a key lands on');
    this.#logger = options.logger;
    this.#client = clientFor(options);
    // Without an 'error' listener ioredis prints every failed reconnect. Log
    // once when Redis goes away and once when it is back.
    this.#client.on('error', (error: Error & { code?: string }) => {
      if (this.#down) return;
      this.#down = true;
      this.#logger?.warn(
        { err: { message: error.message, code: error.code } },
        'session store (Redis) unreachable: requests that need a session are answered 503 until it is back; retrying every second',
      );
    });
    // Any reconnect (a restart, a Sentinel fail-over) may have lost revocation messages.
    this.#client.on('close', () => void this.#epoch++);
    this.#client.on('ready', () => {
      this.#epoch++;
      if (!this.#down) return;
      this.#down = false;
      this.#logger?.info({}, 'session store (Redis) reachable again');
    });
  }

  /** Resolves once connected (for start-up and tests); the store also works without waiting, failing fast until then. */
  async waitUntilReady(timeoutMs = 5000): Promise<void> {
    if (this.#client.status === 'ready') return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#client.off('ready', onReady);
        reject(new StoreUnavailableError('connect', new Error(`not connected after ${timeoutMs} ms`)));
      }, timeoutMs);
      const onReady = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.#client.once('ready', onReady);
    });
  }

  sessionKey(id: string): string {
    if (!SESSION_ID.test(id)) throw new TypeError('a session id is 16-64 base64url characters');
    return `${this.keyPrefix}s:{${id}}`;
  }

  indexKey(hash: string): string {
    return `${this.keyPrefix}i:{${hash}}`;
  }

  lockKey(key: string): string {
    return `${this.keyPrefix}l:{${createHash('sha256').update(key).digest().subarray(0, 16).toString('base64url')}}`;
  }

  async put(id: string, entry: SessionEntry, ttlMs: number): Promise<void> {
    await this.#write('put', id, entry, ttlMs, false);
  }

  async replace(id: string, entry: SessionEntry, ttlMs: number): Promise<boolean> {
    return this.#write('replace', id, entry, ttlMs, true);
  }

  async get(id: string): Promise<StoredSession | undefined> {
    const key = this.sessionKey(id);
    const reply = await this.#run('get', () => this.#client.portcullisReadBuffer(key, 0));
    const header = reply && decodeRecordHeader(reply[0]);
    if (!reply || !header) return undefined;
    const { createdAt, expiresAt, idleMs, headerBytes } = header;
    return { sealed: reply[0].subarray(headerBytes), createdAt, expiresAt, idleMs, idleExpiresAt: this.#idleDeadline(reply[1], expiresAt) };
  }

  async touch(id: string, ttlMs: number): Promise<boolean> {
    const key = this.sessionKey(id);
    return (await this.#run('touch', () => this.#client.pexpire(key, Math.max(1, Math.ceil(ttlMs))))) === 1;
  }

  async delete(id: string): Promise<boolean> {
    const key = this.sessionKey(id);
    const deleted = await this.#run('delete', () => this.#deleteOne(id, key));
    if (deleted) this.#announceRevocation();
    return deleted;
  }

  get #revocationChannel(): string {
    return `${this.keyPrefix}revoked`;
  }

  readonly #revokedCallbacks: (() => void)[] = [];

  /**
   * Tell every instance that sessions were revoked: this one at once, before the revocation
   * returns (its own message comes back later, and an admin's next request must not meet a
   * cached session meanwhile), the others through pub/sub, best effort, with the cache's
   * one-second lifetime and the periodic re-check as the backstop.
   */
  #announceRevocation(): void {
    tellRevoked(this.#revokedCallbacks, this.#logger);
    this.#client.publish(this.#revocationChannel, '1').catch(() => undefined);
  }

  onRevoked(callback: () => void): void {
    this.#revokedCallbacks.push(callback);
    // A connection in subscriber mode can run no other command, so it is a separate one.
    // It queues while disconnected and resubscribes by itself after a reconnect.
    const client = this.#client;
    const sub = (this.#subscriber ??= (client instanceof Cluster ? client.duplicate(undefined, { enableOfflineQueue: true }) : (client as Redis).duplicate({ enableOfflineQueue: true })) as Client);
    if (sub.listenerCount('close') === 0) {
      sub.on('error', () => undefined);
      // One message listener for every callback registered here.
      sub.on('message', (channel: string) => {
        if (channel === this.#revocationChannel) tellRevoked(this.#revokedCallbacks, this.#logger);
      });
      // While the subscription is down, messages are lost: caches must not trust what they hold.
      sub.on('close', () => {
        this.#subscribed = false;
        this.#epoch++;
      });
      // ioredis sends SUBSCRIBE again as it becomes ready; the instant until Redis has it is
      // covered by the cache's one-second lifetime.
      sub.on('ready', () => {
        this.#epoch++;
        this.#subscribed = true;
      });
    }
    sub.subscribe(this.#revocationChannel).then(
      () => {
        this.#epoch++;
        this.#subscribed = true;
      },
      () => undefined,
    );
  }

  cacheEpoch(): number | undefined {
    const ready = this.#subscribed && this.#subscriber?.status === 'ready' && this.#client.status === 'ready';
    return ready ? this.#epoch : undefined;
  }

  async list(filter: SessionFilter): Promise<SessionSummary[]> {
    return this.#run('list', async () => {
      const indexKey = this.indexKey(filterHash(filter));
      const ids = await this.#client.smembers(indexKey);
      const replies = await Promise.all(ids.map((id) => (SESSION_ID.test(id) ? this.#client.portcullisReadBuffer(this.sessionKey(id), MAX_HEADER) : null)));
      const out: SessionSummary[] = [];
      const gone: string[] = [];
      ids.forEach((id, i) => {
        const reply = replies[i];
        const header = reply && decodeRecordHeader(reply[0]);
        if (!reply || !header) return void gone.push(id);
        const { createdAt, expiresAt, idleMs } = header;
        out.push({ id, createdAt, expiresAt, idleMs, idleExpiresAt: this.#idleDeadline(reply[1], expiresAt) });
      });
      if (gone.length) await this.#client.srem(indexKey, ...gone);
      return out;
    });
  }

  async deleteMatching(filter: SessionFilter): Promise<number> {
    return this.#run('deleteMatching', async () => {
      const indexKey = this.indexKey(filterHash(filter));
      const ids = await this.#client.smembers(indexKey);
      const deleted = await Promise.all(ids.map((id) => (SESSION_ID.test(id) ? this.#deleteOne(id, this.sessionKey(id)) : false)));
      // Remove exactly these ids, never the whole set: a login racing this
      // revocation keeps its own index entry.
      if (ids.length) await this.#client.srem(indexKey, ...ids);
      const count = deleted.filter(Boolean).length;
      if (count > 0) this.#announceRevocation();
      return count;
    });
  }

  async deleteAll(): Promise<number> {
    return this.#run('deleteAll', async () => {
      const nodes = this.#client instanceof Cluster ? this.#client.nodes('master') : [this.#client as Redis];
      let sessions = 0;
      for (const node of nodes) {
        // Sessions first, then indexes: a session is never left without its index.
        for (const kind of ['s:', 'i:']) {
          let cursor = '0';
          do {
            const [next, keys] = await node.scan(cursor, 'MATCH', `${globEscape(this.keyPrefix)}${kind}*`, 'COUNT', 500);
            cursor = next;
            // One key per command: in a Cluster the keys of one batch live on different slots.
            const removed = await Promise.all(keys.map((key) => this.#client.unlink(key)));
            if (kind === 's:') sessions += removed.reduce((a, b) => a + b, 0);
          } while (cursor !== '0');
        }
      }
      if (sessions > 0) this.#announceRevocation();
      return sessions;
    });
  }

  async acquireLock(key: string, ttlMs: number): Promise<string | undefined> {
    const lockKey = this.lockKey(key);
    const token = newLockToken();
    const reply = await this.#run('acquireLock', () => this.#client.set(lockKey, token, 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX'));
    return reply === 'OK' ? token : undefined;
  }

  async releaseLock(key: string, token: string): Promise<boolean> {
    const lockKey = this.lockKey(key);
    return (await this.#run('releaseLock', () => this.#client.portcullisUnlock(lockKey, token))) === 1;
  }

  async ping(): Promise<void> {
    await this.#run('ping', () => this.#client.ping());
  }

  async close(): Promise<void> {
    if (this.#subscriber) {
      await this.#subscriber.quit().catch(() => undefined);
      this.#subscriber.disconnect();
    }
    await this.#client.quit().catch(() => undefined);
    this.#client.disconnect();
  }

  async #write(operation: string, id: string, entry: SessionEntry, ttlMs: number, onlyIfExists: boolean): Promise<boolean> {
    const key = this.sessionKey(id);
    const hashes = entryIndexHashes(entry);
    const record = encodeRecord(entry, hashes);
    const ttl = Math.max(1, Math.ceil(ttlMs));
    const indexTtl = Math.max(ttl, entry.expiresAt - Date.now()) + INDEX_TTL_MARGIN_MS;
    return this.#run(operation, async () => {
      // Index before session, so a live session is always reachable by revokeUser/revokeSid.
      const sizes = await Promise.all(hashes.map((hash) => this.#client.portcullisIndexAdd(this.indexKey(hash), id, indexTtl)));
      const previous = onlyIfExists
        ? await this.#client.setBuffer(key, record, 'PX', ttl, 'XX', 'GET')
        : await this.#client.setBuffer(key, record, 'PX', ttl, 'GET');
      if (onlyIfExists && previous === null) return false;
      // An update may change the user's email or IdP session: drop the old index entries.
      const stale = (previous && decodeRecordHeader(previous)?.hashes.filter((hash) => !hashes.includes(hash))) ?? [];
      await Promise.all([
        ...stale.map((hash) => this.#client.srem(this.indexKey(hash), id)),
        // Index sets would otherwise collect the ids of every expired session of a frequent user.
        ...hashes.map((hash, i) => ((sizes[i] ?? 0) > 1 ? this.#prune(this.indexKey(hash)) : undefined)),
      ]);
      return true;
    });
  }

  async #deleteOne(id: string, key: string): Promise<boolean> {
    const record = await this.#client.getdelBuffer(key);
    const header = record && decodeRecordHeader(record);
    // Session first, then its index entries: never an unreachable live session.
    if (header) await Promise.all(header.hashes.map((hash) => this.#client.srem(this.indexKey(hash), id)));
    return record !== null;
  }

  async #prune(indexKey: string): Promise<void> {
    const ids = await this.#client.smembers(indexKey);
    const exists = await Promise.all(ids.map((id) => (SESSION_ID.test(id) ? this.#client.exists(this.sessionKey(id)) : 0)));
    const gone = ids.filter((_, i) => exists[i] === 0);
    if (gone.length) await this.#client.srem(indexKey, ...gone);
  }

  #idleDeadline(pttl: number, expiresAt: number): number {
    return pttl >= 0 ? Math.min(Date.now() + pttl, expiresAt) : expiresAt;
  }

  async #run<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw unavailable(operation, error);
    }
  }
}
