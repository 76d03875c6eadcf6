// Many signed-in users for one row: the bench's single user keeps her session in
// Portcullis's one-second session cache, so nearly every request skips the store. A crowd
// makes each user's first request in a second read Redis, as with a deployment's many
// light users. Alice signs in for real; the crowd are copies of her session under
// subjects of their own, created through the real session layer (ticket, sealing, Redis
// record and indexes) in the row's Redis, so Portcullis cannot tell them from sign-ins.
import { writeFileSync } from 'node:fs';
import { SessionManager } from '../src/session/sessions.ts';
import { RedisSessionStore } from '../src/session/redis-store.ts';
import { defaultLifetimes, storeConnected } from './redis.ts';

export interface CrowdOptions {
  /** the row's Redis and key prefix, as in its configuration */
  readonly redisUrl: string;
  readonly keyPrefix: string;
  /** the Cookie header of alice's real sign-in */
  readonly cookieHeader: string;
  /** users in all, alice included */
  readonly users: number;
  /** written: one Cookie header value per line, for bench/wrk-report.lua */
  readonly file: string;
}

const BATCH = 200;

/** Default crowd: under the 4,096 sessions a Portcullis keeps opened, and the session cache's 10,000. */
export function crowdSize(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.BENCH_CROWD_USERS ?? 4000);
  if (!Number.isInteger(n) || n < 2) throw new Error('BENCH_CROWD_USERS must be a whole number of at least 2');
  return n;
}

/** Creates the crowd and writes their Cookie headers to options.file (alice's first). */
export async function seedCrowd(o: CrowdOptions): Promise<void> {
  const store = new RedisSessionStore({ target: { mode: 'standalone', url: o.redisUrl }, keyPrefix: o.keyPrefix, commandTimeoutMs: 10_000 });
  try {
    await storeConnected(store);
    const manager = new SessionManager({ store, lifetimes: defaultLifetimes() });
    const alice = await findSession(manager, o.cookieHeader);
    const [name] = alice.cookie.split('=', 1);
    const headers = [alice.cookie];
    for (let done = 1; done < o.users; done += BATCH) {
      const batch = Array.from({ length: Math.min(BATCH, o.users - done) }, (_, k) => done + k);
      const created = await Promise.all(
        batch.map((i) => {
          const { data } = alice;
          const email = data.email?.replace('@', `+${i}@`);
          return manager.create({ ...data, sub: `${data.sub}-${i}`, ...(email ? { email } : {}) });
        }),
      );
      headers.push(...created.map((c) => `${name}=${c.ticket}`));
    }
    writeFileSync(o.file, headers.join('\n') + '\n');
  } finally {
    await store.close();
  }
}

/** The cookie of the header that opens a session in this store, and the session's data. */
async function findSession(manager: SessionManager, header: string) {
  for (const cookie of header.split(';').map((c) => c.trim())) {
    const value = cookie.slice(cookie.indexOf('=') + 1);
    const loaded = await manager.load(value);
    if (loaded) return { cookie, data: loaded.data };
  }
  throw new Error(`bench: none of the cookies of alice's sign-in opens a session in Redis (${header.split(';').length} cookies)`);
}
