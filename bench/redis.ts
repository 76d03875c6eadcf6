// The benchmark's own Redis: a private redis-server on a free loopback port, so that
// INFO commandstats counts only the commands of the row being measured (the shared
// Redis on 6379 also serves everyone else's tests). No persistence: nothing to clean
// up on disk, and no fork for a snapshot in the middle of a run.
import { existsSync } from 'node:fs';
import { Redis } from 'ioredis';
import { sessionConfigSchemas } from '../src/session/config.ts';
import type { Lifetimes } from '../src/session/sessions.ts';
import type { SessionStore } from '../src/session/store.ts';
import { startProcess, stderrOf, stopProcess, type Started } from './processes.ts';

const REDIS_SERVER = process.env.BENCH_REDIS_SERVER ?? '/usr/bin/redis-server';

export interface BenchRedis {
  readonly url: string;
  /** the redis-server process, for its CPU time; undefined when BENCH_REDIS_URL points elsewhere */
  readonly pid: number | undefined;
  /** every command Redis has run so far (sum of calls in INFO commandstats) */
  commandsSoFar(): Promise<number>;
  /** bytes Redis holds for data (INFO memory used_memory) */
  usedMemory(): Promise<number>;
  /** MEMORY USAGE of one key, in bytes */
  memoryUsage(key: string): Promise<number>;
  deleteKeysWithPrefix(prefix: string): Promise<number>;
  stop(): Promise<void>;
}

/** Pure: the total of calls= over every command in an INFO commandstats reply. */
export function totalCalls(info: string): number {
  let total = 0;
  for (const match of info.matchAll(/^cmdstat_[^:]+:calls=(\d+)/gm)) total += Number(match[1]);
  return total;
}

export async function startBenchRedis(port: number): Promise<BenchRedis> {
  const external = process.env.BENCH_REDIS_URL;
  let proc: Started | undefined;
  if (!external) {
    if (!existsSync(REDIS_SERVER)) throw new Error(`${REDIS_SERVER} not found: install redis-server, or set BENCH_REDIS_URL to a Redis the bench may use alone`);
    proc = startProcess('redis-server', REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes']);
  }
  const url = external ?? `redis://127.0.0.1:${port}/0`;
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  client.on('error', () => {}); // reported by the failing command instead
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await client.connect();
      await client.ping();
      break;
    } catch (err) {
      client.disconnect();
      if (Date.now() > deadline) {
        if (proc) await stopProcess(proc);
        throw new Error(`Redis at ${url} did not answer within 10 s: ${(err as Error).message}\n${proc ? stderrOf(proc) : ''}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    url,
    pid: proc?.pid,
    commandsSoFar: async () => totalCalls(await client.info('commandstats')),
    usedMemory: async () => Number(/^used_memory:(\d+)/m.exec(await client.info('memory'))?.[1] ?? NaN),
    memoryUsage: async (key) => Number(await client.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')),
    async deleteKeysWithPrefix(prefix) {
      let deleted = 0;
      let cursor = '0';
      const pattern = prefix.replace(/[*?[\]\\]/g, '\\$&') + '*';
      do {
        const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        if (keys.length) deleted += await client.unlink(...keys);
      } while (cursor !== '0');
      return deleted;
    },
    async stop() {
      client.disconnect();
      if (proc) await stopProcess(proc);
    },
  };
}

/** A session store fails fast while it is still connecting (no offline queue), as Portcullis wants; wait for it. */
export async function storeConnected(store: Pick<SessionStore, 'ping'>): Promise<void> {
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

/** The session lifetimes of a Portcullis on the default config: benches create their sessions with these. */
export function defaultLifetimes(): Lifetimes {
  const session = sessionConfigSchemas().session.parse({});
  return { idleMs: session.idle_timeout, absoluteMs: session.lifetime };
}
