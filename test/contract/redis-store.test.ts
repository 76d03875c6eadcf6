// The contract suite against the real Redis on 127.0.0.1:6379, under a key
// prefix of its own, plus what only Redis can show: what a dump reveals, how
// big a session is, and that index sets are pruned.
import { describe, it, expect, afterAll } from 'vitest';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { generateKeyPair, SignJWT } from 'jose';
import { sessionStoreContract } from './session-store.contract.ts';
import { RedisSessionStore } from '../../src/session/redis-store.ts';
import { SessionManager } from '../../src/session/sessions.ts';
import { generateTicket } from '../../src/session/ticket.ts';
import { SHARED_REDIS_URL, deleteKeysWithPrefix, dumpKeys, startPrivateCluster, uniquePrefix, type PrivateCluster } from '../helpers/redis.ts';

const filePrefix = uniquePrefix('redis-store');
const opened: RedisSessionStore[] = [];

async function openStore(keyPrefix: string): Promise<RedisSessionStore> {
  const store = new RedisSessionStore({ target: { mode: 'standalone', url: SHARED_REDIS_URL }, keyPrefix });
  opened.push(store);
  await store.waitUntilReady();
  return store;
}

afterAll(async () => {
  await Promise.all(opened.map((s) => s.close()));
  await deleteKeysWithPrefix(filePrefix);
});

sessionStoreContract('redis', async () => {
  // A prefix per test, so deleteAll() in one test cannot touch another's keys.
  const keyPrefix = `${filePrefix}${randomBytes(3).toString('hex')}:`;
  const store = await openStore(keyPrefix);
  return { store, peer: () => openStore(keyPrefix), cleanup: () => deleteKeysWithPrefix(keyPrefix) };
});

const HOUR = 3_600_000;

/** A session shaped like the login flow's: ID and access token of about 1 KiB, a refresh token, claims with 10 groups. */
async function realisticSession(marker: string) {
  const { privateKey } = await generateKeyPair('RS256');
  const now = Math.floor(Date.now() / 1000);
  const groups = ['payments', 'platform', 'security', 'data', 'mobile', 'web', 'infra', 'sre', 'finance', 'hr'].map((g) => `app-team-${g}-users`);
  const claims = {
    iss: 'https://login.example.com/oauth2/default',
    aud: 'portcullis-prod',
    iat: now,
    exp: now + 3600,
    auth_time: now,
    sub: `sub-${marker}`,
    sid: `sid-${marker}`,
    email: `${marker}@example.com`,
    name: 'Ann Example',
    preferred_username: `${marker}@example.com`,
  };
  const kid = randomBytes(20).toString('hex');
  const idToken = await new SignJWT({ ...claims, nonce: randomBytes(16).toString('base64url'), at_hash: randomBytes(16).toString('base64url'), amr: ['pwd', 'mfa'], acr: 'urn:okta:loa:2fa:any', email_verified: true })
    .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
    .sign(privateKey);
  const accessToken = await new SignJWT({ ...claims, aud: 'api://default', jti: `AT.${randomBytes(30).toString('base64url')}`, cid: '0oa1b2c3d4e5f6g7h8i9', scp: ['openid', 'profile', 'email', 'offline_access', 'groups'] })
    .setProtectedHeader({ alg: 'RS256', kid })
    .sign(privateKey);
  const refreshToken = `RT-${marker}-${randomBytes(40).toString('base64url')}`;
  return {
    sub: claims.sub,
    sid: claims.sid,
    email: claims.email,
    claims: { ...claims, groups, amr: ['pwd', 'mfa'], acr: 'urn:okta:loa:2fa:any' },
    tokens: { id_token: idToken, access_token: accessToken, refresh_token: refreshToken, expires_at: now + 3600, token_type: 'Bearer' },
    device: { binding: randomBytes(32).toString('base64url') },
    login_at: Date.now(),
  };
}

describe('Redis session data at rest', () => {
  it('a Redis dump contains no token, email or subject in clear', async () => {
    const keyPrefix = `${filePrefix}dump:`;
    const store = await openStore(keyPrefix);
    const manager = new SessionManager({ store, lifetimes: { idleMs: HOUR, absoluteMs: 12 * HOUR } });
    const marker = `zq${randomBytes(6).toString('hex')}`;
    const data = await realisticSession(marker);
    const { ticket } = await manager.create(data);
    await manager.withRefreshLock(ticket.split('.')[0]!, async () => {
      const dump = await dumpKeys(keyPrefix);
      expect(dump.map((d) => d.type).sort()).toEqual(['set', 'set', 'set', 'string', 'string']); // 3 indexes, the session, the lock
      const text = dump.map((d) => [d.key, ...d.bytes.map((b) => b.toString('latin1'))].join('\n')).join('\n');
      const secret = ticket.split('.')[1]!;
      const needles = [marker, data.sub, data.sid, data.email, data.tokens.refresh_token, secret, ...data.tokens.id_token.split('.'), ...data.tokens.access_token.split('.'), 'app-team-payments-users', 'Ann Example'];
      for (const needle of needles) expect(text.includes(needle), `dump reveals ${needle.slice(0, 20)}…`).toBe(false);
    });
    // ...and the session still opens with the cookie.
    expect((await manager.load(ticket))?.data).toEqual(data);
  });

  it('keeps a realistic session under 2 KiB', async () => {
    const keyPrefix = `${filePrefix}size:`;
    const store = await openStore(keyPrefix);
    const manager = new SessionManager({ store, lifetimes: { idleMs: HOUR, absoluteMs: 12 * HOUR } });
    const data = await realisticSession('size');
    const { id } = await manager.create(data);
    const client = new Redis(SHARED_REDIS_URL);
    try {
      const key = store.sessionKey(id);
      const valueBytes = await client.strlen(key);
      const memoryUsage = Number(await client.memory('USAGE', key));
      const jsonBytes = Buffer.byteLength(JSON.stringify(data));
      console.info(`session record: ${valueBytes} bytes in Redis (MEMORY USAGE ${memoryUsage}), from ${jsonBytes} bytes of JSON with ID token ${data.tokens.id_token.length} B and access token ${data.tokens.access_token.length} B`);
      // The target is Redis's own figure for the record: value, key name and object overhead,
      // rounded up to the allocator's size classes (its three small index sets come on top).
      expect(memoryUsage).toBeLessThan(2048);
      expect(valueBytes).toBeLessThan(memoryUsage);
    } finally {
      client.disconnect();
    }
  });

  it('prunes ids of expired sessions from index sets and gives index sets a TTL', async () => {
    const keyPrefix = `${filePrefix}prune:`;
    const store = await openStore(keyPrefix);
    const now = Date.now();
    const entry = { sealed: randomBytes(16), sub: 'frequent-user', createdAt: now, expiresAt: now + HOUR, idleMs: HOUR };
    const old = [generateTicket().id, generateTicket().id, generateTicket().id];
    for (const id of old) await store.put(id, entry, 50);
    const client = new Redis(SHARED_REDIS_URL);
    try {
      const indexKey = (await dumpKeys(keyPrefix)).find((d) => d.type === 'set')!.key;
      expect(await client.scard(indexKey)).toBe(3);
      // wait for the sessions to expire, then log in once more
      for (let i = 0; i < 100 && (await client.exists(...old.map((id) => store.sessionKey(id)))) > 0; i++) await new Promise((r) => setTimeout(r, 20));
      const fresh = generateTicket().id;
      await store.put(fresh, entry, HOUR);
      expect(await client.smembers(indexKey)).toEqual([fresh]);
      const ttl = await client.pttl(indexKey);
      expect(ttl).toBeGreaterThanOrEqual(HOUR - 5000);
    } finally {
      client.disconnect();
    }
  });

  it('refuses a key prefix with braces, which would move keys between Cluster slots', () => {
    expect(() => new RedisSessionStore({ target: { mode: 'standalone', url: SHARED_REDIS_URL }, keyPrefix: 'a{b}:' })).toThrow(/must not contain/);
  });
});

// The same promises against a three-master Redis Cluster: every operation
// must stay single-slot (a cross-slot command fails with CROSSSLOT).
describe('Redis Cluster', () => {
  let cluster: PrivateCluster | undefined;
  const clusterStores: RedisSessionStore[] = [];
  afterAll(async () => {
    await Promise.all(clusterStores.map((s) => s.close()));
    await cluster?.stop();
  });

  sessionStoreContract('redis cluster', async () => {
    cluster ??= await startPrivateCluster();
    const nodes = cluster.nodes;
    const keyPrefix = `${filePrefix}${randomBytes(3).toString('hex')}:`;
    const openClusterStore = async (): Promise<RedisSessionStore> => {
      const store = new RedisSessionStore({ target: { mode: 'cluster', nodes }, keyPrefix });
      clusterStores.push(store);
      await store.waitUntilReady(10_000);
      return store;
    };
    const store = await openClusterStore();
    // Each test's cluster is private and dropped at the end, so cleanup only clears this test's keys.
    return { store, peer: openClusterStore, cleanup: async () => void (await store.deleteAll().catch(() => 0)) };
  });
});
