import { describe, it, expect } from 'vitest';
import { z } from 'zod';
import { pino } from 'pino';
import { checkSessionConfig, createSessionStore, sessionConfigSchemas } from '../../src/session/config.ts';
import { MemorySessionStore } from '../../src/session/memory-store.ts';
import { RedisSessionStore } from '../../src/session/redis-store.ts';

// The way the lead plugs the fragment into portcullis.yaml's schema.
const { shape, session: sessionSchema, redis: redisSchema } = sessionConfigSchemas();
const schema = z.strictObject({ ...shape }).superRefine(checkSessionConfig);

function problems(input: unknown, s: z.ZodType = schema): string[] {
  const result = s.safeParse(input);
  return result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

const quietLogger = { warn: () => undefined, info: () => undefined };

describe('session config', () => {
  it('defaults to an in-memory store with 1h idle timeout and 12h lifetime', () => {
    expect(schema.parse({})).toEqual({
      session: { idle_timeout: 3_600_000, lifetime: 43_200_000, store: 'memory', cache_ttl: 1000, memory: { max_sessions: 100_000 } },
    });
  });

  it('reads the documented redis section', () => {
    const parsed = schema.parse({
      session: { store: 'redis', idle_timeout: '30m', lifetime: '8h' },
      redis: { url: 'rediss://:pw@redis.internal:6380/2', tls: { ca: '/etc/ssl/redis-ca.pem' }, key_prefix: 'pc:', command_timeout: '250ms' },
    });
    expect(parsed.redis).toEqual({ url: 'rediss://:pw@redis.internal:6380/2', tls: { ca: '/etc/ssl/redis-ca.pem', insecure_skip_verify: false }, key_prefix: 'pc:', command_timeout: 250 });
    expect(schema.parse({ redis: { sentinel: { sentinels: ['s1:26379', '[fd00::1]:26379'], master: 'mymaster' } } }).redis?.sentinel?.sentinels).toEqual([
      { host: 's1', port: 26379 },
      { host: 'fd00::1', port: 26379 },
    ]);
  });

  it('rejects unknown keys, with the path', () => {
    expect(problems({ session: { idle_timout: '1h' } })).toEqual([expect.stringMatching(/^session: .*idle_timout/)]);
    expect(problems({ redis: { url: 'redis://h', passwd: 'x' } })).toEqual([expect.stringMatching(/^redis: .*passwd/)]);
  });

  it('requires a redis section when the store is redis', () => {
    expect(problems({ session: { store: 'redis' } })).toEqual([expect.stringMatching(/^redis: session.store is "redis"/)]);
  });

  it('requires exactly one of url, sentinel and cluster', () => {
    expect(problems({}, redisSchema)).toEqual([expect.stringContaining('found none')]);
    expect(problems({ url: 'redis://h', cluster: { nodes: ['h:7000'] } }, redisSchema)).toEqual([expect.stringContaining('found url, cluster')]);
  });

  it('refuses client options in the URL query string, which could turn off failing fast', () => {
    expect(problems({ url: 'redis://h:6379/0?enableOfflineQueue=true' }, redisSchema)).toEqual([expect.stringContaining('query string')]);
  });

  it('asks for rediss:// when TLS options are given with redis://', () => {
    expect(problems({ url: 'redis://h', tls: {} }, redisSchema)).toEqual([expect.stringContaining('use rediss://')]);
  });

  it('never repeats the Redis URL (which may hold a password) in an error', () => {
    const found = problems({ url: 'http://:hunter2@h:6379' }, redisSchema);
    expect(found).toHaveLength(1);
    expect(found.join()).not.toContain('hunter2');
  });

  it('rejects a key prefix with braces, an idle timeout longer than the lifetime, and a __Host- cookie name', () => {
    expect(problems({ url: 'redis://h', key_prefix: 'a{b}' }, redisSchema)).toHaveLength(1);
    expect(problems({ idle_timeout: '13h', lifetime: '12h' }, sessionSchema)).toEqual([expect.stringMatching(/^idle_timeout: /)]);
    expect(problems({ cookie_name: 'portcullis' }, sessionSchema)).toEqual([expect.stringContaining('cookie_name')]);
  });

  it('builds the configured store', async () => {
    expect(createSessionStore(schema.parse({}), quietLogger)).toBeInstanceOf(MemorySessionStore);
    // A pino logger is what server.ts passes.
    const redis = createSessionStore(schema.parse({ session: { store: 'redis' }, redis: { url: 'redis://127.0.0.1:6379/0' } }), pino({ level: 'silent' }));
    try {
      expect(redis).toBeInstanceOf(RedisSessionStore);
      await (redis as RedisSessionStore).waitUntilReady();
      await expect(redis.ping()).resolves.toBeUndefined();
    } finally {
      await redis.close();
    }
  });

  it('says which CA file it cannot read, and warns when certificate checks are off', () => {
    const warnings: string[] = [];
    const logger = { warn: (_o: object, msg: string) => void warnings.push(msg), info: () => undefined };
    const config = schema.parse({ session: { store: 'redis' }, redis: { url: 'rediss://127.0.0.1:1/0', tls: { ca: '/nonexistent/ca.pem', insecure_skip_verify: true } } });
    expect(() => createSessionStore(config, logger)).toThrow(/redis\.tls\.ca: cannot read "\/nonexistent\/ca.pem" \(ENOENT\)/);
    expect(warnings).toEqual([expect.stringContaining('NOT verified')]);
  });
});
