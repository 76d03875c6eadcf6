// npm run bench:sessions: what a signed-in user costs in memory. Sessions are created
// through the real session layer (SessionManager: ticket, encoding, sealing) for a
// different user each, so the Redis indexes hold one entry each as in production, with
// data shaped by BENCH_SESSIONS_SHAPE:
//
//   realistic (default): what sign-in stores (src/auth/session-data.ts) for a user in 10
//       groups under the default configuration, with real JWT structure: an RS256 ID token
//       whose header and payload are base64url JSON carrying the user's claims and groups
//       (as an IdP issues them), with random nonce, at_hash, sid and a 256-byte signature;
//       an opaque refresh token. No access token: sessions keep it only while a route
//       forwards it (pass_access_token). The signatures are random bytes, not computed: no
//       codec can tell the difference.
//   realistic-access-token: the same plus an RS256 access token (JWT, the user's claims,
//       groups and scopes), as sessions hold it once a route sets pass_access_token.
//   incompressible: the same fields (access token included), but the two tokens are 1,024
//       and 900 characters whose every segment is random (no JSON inside, nothing to
//       compress): a worst case, and the data earlier versions of this bench called realistic.
//
//   memory store: a child process started with --expose-gc creates BENCH_SESSIONS_MEMORY
//                 sessions (100,000, the default memory.max_sessions). It reads memory three
//                 times: fresh; after a warm-up of BENCH_SESSIONS_WARMUP sign-ins (20,000)
//                 that are then revoked, so code, V8's young generation and malloc's arenas
//                 are as a proxy that has been signing users in has them ("before"); and
//                 with the sessions ("after"). Each reading comes after a full garbage
//                 collection, so no garbage is counted: RSS is read once after a regular full
//                 GC (V8 keeps the pages it freed, resident, for reuse) and once after a
//                 last-resort GC that also returns those to the system; V8 heap and
//                 external memory (Buffers included, counted once) are the live set.
//   Redis store:  a private redis-server (see redis.ts) gets BENCH_SESSIONS_REDIS sessions
//                 (20,000) of each shape, under a key prefix as long as the default one
//                 ("portcullis:"), so key names cost what they cost in production. Reported:
//                 STRLEN of the record value and what it is made of, MEMORY USAGE of the
//                 record and of the index sets (a sample of each), and used_memory before and
//                 after (everything: records, index sets, expiry entries, Redis's tables).
//                 Everything is deleted at the end.
//
// Writes results/sessions.json and prints a short table.
import { NODE_FLAGS } from '../src/runtime.ts';
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MAX_OPENED, SessionManager } from '../src/session/sessions.ts';
import { MemorySessionStore } from '../src/session/memory-store.ts';
import { RedisSessionStore, decodeRecordHeader } from '../src/session/redis-store.ts';
import { SEAL_OVERHEAD } from '../src/session/seal.ts';
import type { SessionData } from '../src/auth/session-data.ts';
import type { SessionStore } from '../src/session/store.ts';
import { defaultLifetimes, startBenchRedis, storeConnected } from './redis.ts';
import { freePort } from './ports.ts';

const RESULTS = fileURLToPath(new URL('./results/', import.meta.url));
const BATCH = 500;
const SHAPES = ['realistic', 'realistic-access-token', 'incompressible'] as const;
type Shape = (typeof SHAPES)[number];

function count(name: string, fallback: number): number {
  const n = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive whole number`);
  return n;
}

function shapeOf(text: string | undefined): Shape {
  const shape = text ?? 'realistic';
  if (!(SHAPES as readonly string[]).includes(shape)) throw new Error(`BENCH_SESSIONS_SHAPE must be one of ${SHAPES.join(', ')}`);
  return shape as Shape;
}

/** base64url text of about `bytes` characters, like the random parts of a token. */
function b64(bytes: number): string {
  return randomBytes(Math.ceil((bytes * 3) / 4)).toString('base64url').slice(0, bytes);
}

const json64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A string of `bytes` characters shaped like a JWT (header.payload.signature) whose every part is random. */
function randomJwtLike(bytes: number): string {
  const header = b64(100);
  const signature = b64(86);
  return `${header}.${b64(bytes - header.length - signature.length - 2)}.${signature}`;
}

/** The identity provider's signing key id: the same in every token, as with a real IdP. */
const KID = b64(43);
const ISSUER = 'https://login.example.com/realms/staff';

/** What one sign-in stores, for user number i. */
export function benchSession(i: number, shape: Shape = 'realistic', now = Date.now()): SessionData {
  const iat = Math.floor(now / 1000);
  const sub = `user-${i}-${b64(12)}`;
  const sid = b64(32);
  const email = `user${i}@example.com`;
  const name = `Example User ${i}`;
  const groups = Array.from({ length: 10 }, (_, g) => `group-${g}-of-the-organisation`);
  const claims = { preferred_username: `user${i}`, locale: 'en-GB', department: 'engineering' };
  const acr = 'urn:portcullis:demo:mfa';
  const amr = ['pwd', 'otp'];
  const signature = () => b64(342); // RS256: 256 bytes
  const idToken =
    shape === 'incompressible'
      ? randomJwtLike(1024)
      : `${json64({ alg: 'RS256', typ: 'JWT', kid: KID })}.${json64({ iss: ISSUER, sub, aud: 'portcullis', exp: iat + 300, iat, auth_time: iat, nonce: b64(43), sid, at_hash: b64(22), acr, amr, email, email_verified: true, name, ...claims, groups })}.${signature()}`;
  const accessToken =
    shape === 'incompressible'
      ? randomJwtLike(900)
      : `${json64({ alg: 'RS256', typ: 'at+jwt', kid: KID })}.${json64({ iss: ISSUER, sub, aud: 'https://api.example.com', exp: iat + 600, iat, auth_time: iat, jti: b64(22), client_id: 'portcullis', scope: 'openid profile email offline_access groups', sid, acr, email, groups })}.${signature()}`;
  return {
    v: 1,
    sub,
    email,
    emailVerified: true,
    name,
    groups,
    claims,
    acr,
    amr,
    authTime: iat,
    sid,
    idToken,
    // Kept only while a route forwards it (src/auth/auth.ts): not under the default configuration.
    accessToken: shape === 'realistic' ? undefined : accessToken,
    refreshToken: b64(64),
    tokenExpiresAt: now + 600_000,
    createdAt: now,
    deviceId: `device-${i}`,
  };
}

/** Create n sessions; returns the cookie values of the last `keep` of them. */
async function fill(manager: SessionManager, n: number, shape: Shape, keep = 0): Promise<string[]> {
  const kept: string[] = [];
  for (let done = 0; done < n; done += BATCH) {
    const batch = Math.min(BATCH, n - done);
    const created = await Promise.all(Array.from({ length: batch }, (_, k) => manager.create(benchSession(done + k, shape) as unknown as Parameters<SessionManager['create']>[0])));
    // only batches that reach into the last `keep`
    if (done + batch > n - keep) kept.push(...created.map((c) => c.ticket));
  }
  return keep > 0 ? kept.slice(-keep) : [];
}

// --- the memory-store child --------------------------------------------------

interface MemoryReading {
  /** RSS right after a regular full GC: what the process holds, V8's pooled free pages included */
  rssAfterGc: number;
  /** RSS after a last-resort GC, which also hands V8's pooled free pages back to the system */
  rss: number;
  /** V8 heap in use */
  heapUsed: number;
  /** memory outside the V8 heap held by JavaScript objects; includes every ArrayBuffer and Buffer */
  external: number;
  /** the ArrayBuffer and Buffer part of external */
  arrayBuffers: number;
}

type Gc = (options?: { type: 'major'; execution: 'sync'; flavor?: 'regular' | 'last-resort' }) => void;

let keptAlive: unknown;

async function memoryChild(n: number, shape: Shape, warmup: number): Promise<void> {
  const gc = (globalThis as { gc?: Gc }).gc;
  if (!gc) throw new Error('run the memory child with --expose-gc');
  const reading = (): MemoryReading => {
    // A full collection first, so no garbage is counted. A regular one leaves the pages V8 freed
    // in its pool, still resident, for reuse; the last-resort one returns them to the system too.
    gc({ type: 'major', execution: 'sync' });
    const rssAfterGc = process.memoryUsage.rss();
    gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    const { rss, heapUsed, external, arrayBuffers } = process.memoryUsage();
    return { rssAfterGc, rss, heapUsed, external, arrayBuffers };
  };
  const fresh = reading();
  const store: SessionStore = new MemorySessionStore({ maxSessions: n });
  const manager = new SessionManager({ store, lifetimes: defaultLifetimes() });
  // Warm up with sign-ins whose sessions are then revoked: the code is compiled, and the young
  // generation and malloc's arenas grow to what a stream of sign-ins makes them, as in a proxy
  // that has been serving for a while. So "before" is such a process without sessions, and the
  // difference to "after" is what the sessions themselves hold.
  await fill(manager, warmup, shape);
  await manager.revokeAll();
  const before = reading();
  const started = performance.now();
  const recent = await fill(manager, n, shape, Math.min(MAX_OPENED, n));
  const seconds = (performance.now() - started) / 1000;
  const after = reading();
  // A serving proxy has also opened its recently used sessions (SessionManager keeps up to
  // MAX_OPENED of them, opened, besides the sealed records): open that many once.
  for (const ticket of recent) if (!(await manager.load(ticket))) throw new Error('a session just created did not load');
  // The manager holds them; V8 would collect it once this function no longer uses it.
  keptAlive = manager;
  const opened = reading();
  process.send!({ n, shape, warmup, fresh, before, after, opened, openedCount: recent.length, seconds, size: (store as MemorySessionStore).size });
}

// --- the parent ----------------------------------------------------------------

interface MemoryReport {
  n: number;
  shape: Shape;
  warmup: number;
  fresh: MemoryReading;
  before: MemoryReading;
  after: MemoryReading;
  /** after opening the most recently created sessions once, as many as SessionManager keeps opened */
  opened: MemoryReading;
  openedCount: number;
  seconds: number;
  size: number;
}

function runMemoryChild(n: number, shape: Shape, warmup: number): Promise<MemoryReport> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['--memory-child', String(n), shape, String(warmup)], { execArgv: ['--expose-gc', ...NODE_FLAGS], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    let report: MemoryReport | undefined;
    child.on('message', (m) => (report = m as MemoryReport));
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (report) resolve(report);
      else reject(new Error(`the memory-store child exited with ${code} without a report`));
    });
  });
}

const mean = (values: number[]): number => (values.length ? values.reduce((a, b) => a + b, 0) / values.length : NaN);

async function redisReport(n: number, shape: Shape) {
  const redis = await startBenchRedis(await freePort());
  // As long as the default "portcullis:", so that key names cost what they cost in production;
  // random, so that a shared Redis (BENCH_REDIS_URL) never loses anyone else's keys.
  const keyPrefix = `pc${randomBytes(4).toString('hex')}:`;
  // A generous command timeout: 500 sessions are created at a time on a shared machine, and
  // this measures bytes, not latency.
  const store = new RedisSessionStore({ target: { mode: 'standalone', url: redis.url }, keyPrefix, commandTimeoutMs: 10_000 });
  const { Redis } = await import('ioredis');
  const client = new Redis(redis.url);
  try {
    await storeConnected(store);
    const manager = new SessionManager({ store, lifetimes: defaultLifetimes() });
    await fill(manager, 50, shape);
    await redis.deleteKeysWithPrefix(keyPrefix);
    const before = await redis.usedMemory();
    const started = performance.now();
    await fill(manager, n, shape);
    const seconds = (performance.now() - started) / 1000;
    const after = await redis.usedMemory();
    // A sample of session records (s:) and index sets (i:, one each for sub, email and sid).
    const sample = await sampleKeys(client, keyPrefix, 400);
    const sessionKeys = sample.filter((k) => k.slice(keyPrefix.length).startsWith('s:'));
    const indexKeys = sample.filter((k) => k.slice(keyPrefix.length).startsWith('i:'));
    const values = await Promise.all(sessionKeys.map((k) => client.getBuffer(k)));
    const headers = values.map((v) => (v ? (decodeRecordHeader(v)?.headerBytes ?? NaN) : NaN));
    const valueBytes = mean(values.map((v) => v?.length ?? NaN));
    const headerBytes = mean(headers);
    return {
      n,
      shape,
      seconds,
      sessions_sampled: sessionKeys.length,
      index_sets_sampled: indexKeys.length,
      key_name_bytes: sessionKeys[0]?.length ?? NaN,
      /** STRLEN of a session record */
      record_value_bytes: valueBytes,
      /** ...made of: the store's header (times, index hashes), the seal (version, nonce, tag), the encoded session data */
      record_header_bytes: headerBytes,
      record_seal_bytes: SEAL_OVERHEAD,
      record_data_bytes: valueBytes - headerBytes - SEAL_OVERHEAD,
      /** MEMORY USAGE of a session record: value, key name and Redis object, in allocator size classes; not its TTL entry */
      record_memory_usage: mean(await Promise.all(sessionKeys.map((k) => redis.memoryUsage(k)))),
      /** MEMORY USAGE of one index set (each holds one session id here) */
      index_set_memory_usage: mean(await Promise.all(indexKeys.map((k) => redis.memoryUsage(k)))),
      index_sets_per_session: 3,
      /** INFO used_memory after minus before, per session: records, index sets, expiry entries, Redis's own tables */
      used_memory_per_session: (after - before) / n,
      deleted: await redis.deleteKeysWithPrefix(keyPrefix),
    };
  } finally {
    client.disconnect();
    await store.close();
    await redis.stop();
  }
}

type RedisReport = Awaited<ReturnType<typeof redisReport>>;

async function sampleKeys(client: import('ioredis').Redis, prefix: string, want: number): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0' && keys.length < want);
  return keys.slice(0, want);
}

function describeShape(shape: Shape) {
  const sample = benchSession(0, shape);
  return { shape, json_bytes: Buffer.byteLength(JSON.stringify(sample)), id_token_chars: sample.idToken!.length, access_token_chars: sample.accessToken?.length ?? 0 };
}

async function main(): Promise<void> {
  const memoryCount = count('BENCH_SESSIONS_MEMORY', 100_000);
  const redisCount = count('BENCH_SESSIONS_REDIS', 20_000);
  const memoryShape = shapeOf(process.env.BENCH_SESSIONS_SHAPE);
  const warmup = Math.min(count('BENCH_SESSIONS_WARMUP', 20_000), memoryCount);
  const shapes = SHAPES.map(describeShape);
  for (const s of shapes) console.error(`bench:sessions: ${s.shape} session data is ${s.json_bytes} bytes as JSON (ID token ${s.id_token_chars} chars, ${s.access_token_chars ? `access token ${s.access_token_chars}` : 'no access token'}, 10 groups)`);

  console.error(`bench:sessions: ${memoryCount.toLocaleString('en-US')} ${memoryShape} sessions in the memory store (child process)…`);
  const mem = await runMemoryChild(memoryCount, memoryShape, warmup);
  const red: RedisReport[] = [];
  for (const shape of SHAPES) {
    console.error(`bench:sessions: ${redisCount.toLocaleString('en-US')} ${shape} sessions in Redis (private redis-server)…`);
    red.push(await redisReport(redisCount, shape));
  }

  const kib = (b: number) => `${(b / 1024).toFixed(2)} KiB`;
  const mib = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MiB`;
  const bytes = (b: number) => `${Math.round(b).toLocaleString('en-US')} B`;
  const delta = (k: keyof MemoryReading) => mem.after[k] - mem.before[k];
  const memory = {
    /** what the sessions add: RSS after minus before, both with V8's free pages returned */
    rss_delta: delta('rss'),
    rss_per_session: delta('rss') / mem.n,
    // external already includes arrayBuffers: heap + external is everything JavaScript holds.
    live_per_session: (delta('heapUsed') + delta('external')) / mem.n,
    heap_per_session: delta('heapUsed') / mem.n,
    external_per_session: delta('external') / mem.n,
  };
  const n = mem.n.toLocaleString('en-US');
  const lines: [string, string][] = [
    ['measure', 'value'],
    ...shapes.map((s): [string, string] => [`session data, ${s.shape}: as JSON`, `${bytes(s.json_bytes)} (ID token ${s.id_token_chars} chars, ${s.access_token_chars ? `access token ${s.access_token_chars}` : 'no access token'})`]),
    [`memory store (${mem.shape}): RSS with ${n} sessions`, `${mib(mem.after.rss)} after a full GC returning V8's free pages; ${mib(mem.after.rssAfterGc)} after a regular full GC`],
    ['memory store: RSS without sessions', `${mib(mem.fresh.rss)} fresh; ${mib(mem.before.rss)} after ${mem.warmup.toLocaleString('en-US')} sign-ins revoked (warm-up), same GC`],
    [`memory store: RSS the ${n} sessions add`, `${mib(memory.rss_delta)} (${kib(memory.rss_per_session)} per session; warmed-up before, both readings after a full GC returning V8's free pages)`],
    [
      `memory store: RSS once the ${mem.openedCount.toLocaleString('en-US')} most recent are opened`,
      `${mib(mem.opened.rss)} (+${mib(mem.opened.rss - mem.after.rss)}); ${mib(mem.opened.rssAfterGc)} after a regular full GC (the opened sessions a serving proxy keeps, src/session/sessions.ts)`,
    ],
    ['memory store: V8 heap + external per session', `${kib(memory.live_per_session)} (heap ${kib(memory.heap_per_session)}, external incl. Buffers ${kib(memory.external_per_session)})`],
    ['memory store: sessions created per second', Math.round(mem.n / mem.seconds).toLocaleString('en-US')],
  ];
  for (const r of red) {
    lines.push(
      [`Redis (${r.shape}): session record value (STRLEN)`, `${bytes(r.record_value_bytes)} = ${bytes(r.record_header_bytes)} store header + ${bytes(r.record_seal_bytes)} seal + ${bytes(r.record_data_bytes)} encoded data`],
      [`Redis (${r.shape}): MEMORY USAGE of the record`, `${bytes(r.record_memory_usage)} (${kib(r.record_memory_usage)}; value + ${r.key_name_bytes}-byte key + object, allocator-rounded)`],
      [`Redis (${r.shape}): MEMORY USAGE of its 3 index sets`, `${bytes(3 * r.index_set_memory_usage)} (${bytes(r.index_set_memory_usage)} each: sub, email, sid)`],
      [`Redis (${r.shape}): used_memory per session, all in`, `${bytes(r.used_memory_per_session)} (${kib(r.used_memory_per_session)}: record, index sets, TTLs, tables)`],
      [`Redis (${r.shape}): sessions created per second`, Math.round(r.n / r.seconds).toLocaleString('en-US')],
    );
  }
  const width = Math.max(...lines.map((l) => l[0].length));
  console.log('\n' + lines.map(([a, b], i) => `${a.padEnd(width)}  ${b}${i === 0 ? '\n' + '-'.repeat(width + 40) : ''}`).join('\n') + '\n');
  mkdirSync(RESULTS, { recursive: true });
  const file = join(RESULTS, 'sessions.json');
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), node: process.version, shapes, memory: { ...mem, ...memory }, redis: red }, null, 2) + '\n');
  console.error(`bench:sessions: wrote ${file}; deleted ${red.reduce((a, r) => a + r.deleted, 0)} Redis keys`);
}

const isEntryPoint = import.meta.url === `file://${process.argv[1]}`;
if (isEntryPoint && process.argv[2] === '--memory-child') {
  memoryChild(Number(process.argv[3]), shapeOf(process.argv[4]), Number(process.argv[5])).catch((err: Error) => {
    console.error(err.stack ?? err.message);
    process.exit(1);
  });
} else if (isEntryPoint) {
  main().catch((err: Error) => {
    console.error(`bench:sessions: ${err.stack ?? err.message}`);
    process.exitCode = 1;
  });
}
