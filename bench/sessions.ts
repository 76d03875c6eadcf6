// npm run bench:sessions: what a signed-in user costs in memory. Sessions are created
// through the real session layer (SessionManager: ticket, sealing, encoding) with data
// shaped like a real sign-in (src/auth/session-data.ts: a ~1 KiB ID token, a JWT access
// token, a refresh token, 10 groups, a few claims), each for a different user, so the
// Redis indexes hold one entry each as in production.
//
//   memory store: a child process (so its RSS starts clean) creates BENCH_SESSIONS_MEMORY
//                 sessions (100,000, the default memory.max_sessions) and reports RSS and
//                 heap before and after, with a full GC before each reading.
//   Redis store:  a private redis-server (see redis.ts) gets BENCH_SESSIONS_REDIS sessions
//                 (20,000); used_memory before and after, and MEMORY USAGE of a sample of
//                 session and index keys. Everything is deleted at the end.
//
// Writes results/sessions.json and prints a short table.
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SessionManager } from '../src/session/sessions.ts';
import { MemorySessionStore } from '../src/session/memory-store.ts';
import { RedisSessionStore } from '../src/session/redis-store.ts';
import type { SessionData } from '../src/auth/session-data.ts';
import type { SessionStore } from '../src/session/store.ts';
import { startBenchRedis } from './redis.ts';
import { freePort } from './ports.ts';

const RESULTS = fileURLToPath(new URL('./results/', import.meta.url));
const LIFETIMES = { idleMs: 3_600_000, absoluteMs: 12 * 3_600_000 };
const BATCH = 500;

function count(name: string, fallback: number): number {
  const n = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive whole number`);
  return n;
}

/** base64url text of about `bytes` characters, like the parts of a JWT. */
function b64(bytes: number): string {
  return randomBytes(Math.ceil((bytes * 3) / 4)).toString('base64url').slice(0, bytes);
}

/** A JWT-shaped string of about `bytes` characters (header.payload.signature). */
function jwtLike(bytes: number): string {
  const header = b64(100);
  const signature = b64(86); // ES256
  return `${header}.${b64(bytes - header.length - signature.length - 2)}.${signature}`;
}

/** What one sign-in stores, for user number i. */
export function realisticSession(i: number, now = Date.now()): SessionData {
  return {
    v: 1,
    sub: `user-${i}-${b64(12)}`,
    email: `user${i}@example.com`,
    emailVerified: true,
    name: `Example User ${i}`,
    groups: Array.from({ length: 10 }, (_, g) => `group-${g}-of-the-organisation`),
    claims: { preferred_username: `user${i}`, locale: 'en-GB', department: 'engineering' },
    acr: 'urn:portcullis:demo:mfa',
    amr: ['pwd', 'otp'],
    authTime: Math.floor(now / 1000),
    sid: b64(32),
    idToken: jwtLike(1024),
    accessToken: jwtLike(900),
    refreshToken: b64(64),
    tokenExpiresAt: now + 600_000,
    createdAt: now,
    deviceId: `device-${i}`,
  };
}

async function fill(manager: SessionManager, n: number): Promise<void> {
  for (let done = 0; done < n; done += BATCH) {
    const batch = Math.min(BATCH, n - done);
    await Promise.all(Array.from({ length: batch }, (_, k) => manager.create(realisticSession(done + k) as unknown as Parameters<SessionManager['create']>[0])));
  }
}

// --- the memory-store child --------------------------------------------------

async function memoryChild(n: number): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run the memory child with --expose-gc');
  const reading = () => {
    gc();
    const m = process.memoryUsage();
    return { rss: m.rss, heapUsed: m.heapUsed, external: m.external + m.arrayBuffers };
  };
  const store: SessionStore = new MemorySessionStore({ maxSessions: n });
  const manager = new SessionManager({ store, lifetimes: LIFETIMES });
  // Warm up the code paths, so their compiled code is not counted as session memory.
  await fill(manager, 100);
  await manager.revokeAll();
  const before = reading();
  const started = performance.now();
  await fill(manager, n);
  const seconds = (performance.now() - started) / 1000;
  const after = reading();
  process.send!({ n, before, after, seconds, size: (store as MemorySessionStore).size });
}

// --- the parent ----------------------------------------------------------------

interface MemoryReport {
  n: number;
  before: { rss: number; heapUsed: number; external: number };
  after: { rss: number; heapUsed: number; external: number };
  seconds: number;
  size: number;
}

function runMemoryChild(n: number): Promise<MemoryReport> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['--memory-child', String(n)], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
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

async function redisReport(n: number) {
  const redis = await startBenchRedis(await freePort());
  const keyPrefix = `portcullis-bench-sessions:${randomBytes(4).toString('hex')}:`;
  const store = new RedisSessionStore({ target: { mode: 'standalone', url: redis.url }, keyPrefix });
  try {
    await connected(store);
    const manager = new SessionManager({ store, lifetimes: LIFETIMES });
    await fill(manager, 50);
    await redis.deleteKeysWithPrefix(keyPrefix);
    const before = await redis.usedMemory();
    const started = performance.now();
    await fill(manager, n);
    const seconds = (performance.now() - started) / 1000;
    const after = await redis.usedMemory();
    // MEMORY USAGE of a sample: one session record and its three index sets (sub, email, sid) each.
    const sample = await sampleKeys(redis.url, keyPrefix, 200);
    const sessionKeys = sample.filter((k) => k.slice(keyPrefix.length).startsWith('s:'));
    const indexKeys = sample.filter((k) => k.slice(keyPrefix.length).startsWith('i:'));
    const avg = async (keys: string[]) => (keys.length ? (await Promise.all(keys.map((k) => redis.memoryUsage(k)))).reduce((a, b) => a + b, 0) / keys.length : NaN);
    return {
      n,
      seconds,
      usedMemoryDeltaPerSession: (after - before) / n,
      sessionKeyMemoryUsage: await avg(sessionKeys),
      indexKeyMemoryUsage: await avg(indexKeys),
      recordBytes: await recordLength(redis.url, sessionKeys[0]),
      deleted: await redis.deleteKeysWithPrefix(keyPrefix),
    };
  } finally {
    await store.close();
    await redis.stop();
  }
}

/** The store fails fast while it is still connecting (no offline queue), as Portcullis wants; wait for it. */
async function connected(store: SessionStore): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      return await store.ping();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function sampleKeys(url: string, prefix: string, want: number): Promise<string[]> {
  const { Redis } = await import('ioredis');
  const client = new Redis(url);
  try {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0' && keys.length < want);
    return keys.slice(0, want);
  } finally {
    client.disconnect();
  }
}

async function recordLength(url: string, key: string | undefined): Promise<number> {
  if (!key) return NaN;
  const { Redis } = await import('ioredis');
  const client = new Redis(url);
  try {
    return await client.strlen(key);
  } finally {
    client.disconnect();
  }
}

async function main(): Promise<void> {
  const memoryCount = count('BENCH_SESSIONS_MEMORY', 100_000);
  const redisCount = count('BENCH_SESSIONS_REDIS', 20_000);
  const sample = realisticSession(0);
  const sampleJsonBytes = Buffer.byteLength(JSON.stringify(sample));
  console.error(`bench:sessions: one session's data is ${sampleJsonBytes} bytes as JSON (ID token ${sample.idToken!.length}, access token ${sample.accessToken!.length}, 10 groups)`);

  console.error(`bench:sessions: ${memoryCount.toLocaleString('en-US')} sessions in the memory store (child process)…`);
  const mem = await runMemoryChild(memoryCount);
  console.error(`bench:sessions: ${redisCount.toLocaleString('en-US')} sessions in Redis (private redis-server)…`);
  const red = await redisReport(redisCount);

  const kib = (b: number) => (b / 1024).toFixed(2);
  const mib = (b: number) => (b / 1024 / 1024).toFixed(0);
  const perSessionHeap = (mem.after.heapUsed + mem.after.external - mem.before.heapUsed - mem.before.external) / mem.n;
  const perSessionRss = (mem.after.rss - mem.before.rss) / mem.n;
  const lines = [
    ['measure', 'value'],
    ['session data as JSON', `${kib(sampleJsonBytes)} KiB`],
    [`memory store: RSS after ${mem.n.toLocaleString('en-US')} sessions`, `${mib(mem.after.rss)} MiB (${mib(mem.before.rss)} MiB before)`],
    ['memory store: RSS per session', `${kib(perSessionRss)} KiB`],
    ['memory store: heap + buffers per session', `${kib(perSessionHeap)} KiB`],
    ['memory store: sessions created per second', Math.round(mem.n / mem.seconds).toLocaleString('en-US')],
    ['Redis: used_memory per session (record + 3 index sets)', `${kib(red.usedMemoryDeltaPerSession)} KiB`],
    ['Redis: MEMORY USAGE of one session record', `${kib(red.sessionKeyMemoryUsage)} KiB (${red.recordBytes} bytes of value)`],
    ['Redis: MEMORY USAGE of one index set', `${red.indexKeyMemoryUsage.toFixed(0)} bytes`],
    ['Redis: sessions created per second', Math.round(red.n / red.seconds).toLocaleString('en-US')],
  ];
  const width = Math.max(...lines.map((l) => l[0]!.length));
  console.log('\n' + lines.map(([a, b], i) => `${a!.padEnd(width)}  ${b}${i === 0 ? '\n' + '-'.repeat(width + 20) : ''}`).join('\n') + '\n');
  mkdirSync(RESULTS, { recursive: true });
  const file = join(RESULTS, 'sessions.json');
  writeFileSync(
    file,
    JSON.stringify(
      { date: new Date().toISOString(), node: process.version, session_json_bytes: sampleJsonBytes, memory: { ...mem, rss_per_session: perSessionRss, heap_per_session: perSessionHeap }, redis: red },
      null,
      2,
    ) + '\n',
  );
  console.error(`bench:sessions: wrote ${file}; deleted ${red.deleted} Redis keys`);
}

const isEntryPoint = import.meta.url === `file://${process.argv[1]}`;
if (isEntryPoint && process.argv[2] === '--memory-child') {
  memoryChild(Number(process.argv[3])).catch((err: Error) => {
    console.error(err.stack ?? err.message);
    process.exit(1);
  });
} else if (isEntryPoint) {
  main().catch((err: Error) => {
    console.error(`bench:sessions: ${err.stack ?? err.message}`);
    process.exitCode = 1;
  });
}
