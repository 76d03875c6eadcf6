// The "session:" and "redis:" sections of portcullis.yaml, and the factory
// that turns them into a SessionStore. Plugged into configSchema by the lead:
//
//   const { shape } = sessionConfigSchemas();
//   z.strictObject({ ...existing, ...shape }).superRefine(checkSessionConfig)
//
// The schemas are built on the first call and then cached.
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { z } from 'zod';
import { duration } from '../config/primitives.ts';
import { MemorySessionStore } from './memory-store.ts';
import { RedisSessionStore, type HostPort, type RedisTarget } from './redis-store.ts';
import type { SessionStore, StoreLogger } from './store.ts';

export function sessionConfigSchemas(): SessionConfigSchemas {
  return (cachedSchemas ??= buildSchemas());
}
let cachedSchemas: SessionConfigSchemas | undefined;
type SessionConfigSchemas = ReturnType<typeof buildSchemas>;

function buildSchemas() {
  const hostPort = z.string().transform((text, ctx): HostPort => {
    const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(text.trim());
    const port = Number(m?.[3]);
    if (!m || port < 1 || port > 65535) {
      ctx.addIssue({ code: 'custom', message: `"${text}" is not HOST:PORT, such as "redis-1.internal:26379" or "[fd00::5]:6379"` });
      return z.NEVER;
    }
    return { host: m[1] ?? m[2]!, port };
  });

  const session = z
    .strictObject({
      idle_timeout: duration.default(3_600_000).describe('a session ends after this long without a request'),
      lifetime: duration.default(43_200_000).describe('a session ends this long after sign-in, however active'),
      store: z.enum(['memory', 'redis']).default('memory').describe('memory: one instance only, sessions lost on restart; redis: shared by every instance'),
      cache_ttl: duration
        .default(1000)
        .describe('keep opened sessions in this process for up to this long (at most 1s; 0 turns it off); revocations clear it at once, through Redis pub/sub on every instance, and it is not used while Redis or the subscription is down'),
      memory: z
        .strictObject({ max_sessions: z.number().int().min(1).max(10_000_000).default(100_000) })
        .prefault({})
        .describe('when full, the oldest session is dropped'),
    })
    .superRefine((session, ctx) => {
      if (session.cache_ttl > 1000) ctx.addIssue({ code: 'custom', path: ['cache_ttl'], message: 'cache_ttl must be at most 1s, so that a revocation reaches every instance within a second even if its message is lost' });
      if (session.idle_timeout < 1000) ctx.addIssue({ code: 'custom', path: ['idle_timeout'], message: 'idle_timeout must be at least 1s' });
      if (session.idle_timeout > session.lifetime) {
        ctx.addIssue({ code: 'custom', path: ['idle_timeout'], message: 'idle_timeout must not be longer than lifetime (the session would end at lifetime anyway)' });
      }
    });

  const optionalSecret = z.string().min(1).optional();

  const redis = z
    .strictObject({
      url: z
        .string()
        // The URL may hold a password: never repeat it in a message.
        .refine((url) => /^rediss?:\/\/[^\s]+$/.test(url) && URL.canParse(url), 'redis.url must be a redis:// or rediss:// URL, such as redis://:PASSWORD@redis.internal:6379/0')
        // ioredis reads client options from the query string, which could switch off failing fast.
        .refine((url) => !URL.canParse(url) || new URL(url).search === '', 'redis.url must not have a query string; set options in the redis: section instead')
        .optional(),
      sentinel: z
        .strictObject({
          sentinels: z.array(hostPort).min(1, 'list at least one sentinel as HOST:PORT'),
          master: z.string().min(1).describe('the master group name the sentinels monitor, such as "mymaster"'),
          username: z.string().min(1).optional(),
          password: optionalSecret.describe('password of the Redis master and replicas'),
          sentinel_password: optionalSecret.describe('password of the sentinels themselves'),
          db: z.number().int().min(0).max(15).default(0),
        })
        .optional(),
      cluster: z
        .strictObject({
          nodes: z.array(hostPort).min(1, 'list at least one cluster node as HOST:PORT; the others are discovered'),
          username: z.string().min(1).optional(),
          password: optionalSecret,
        })
        .optional(),
      tls: z
        .strictObject({
          ca: z.string().min(1).optional().describe('PEM file with the CA certificate(s) that signed the Redis server certificate'),
          insecure_skip_verify: z.boolean().default(false).describe('accept any Redis server certificate; for testing only'),
        })
        .optional(),
      key_prefix: z
        .string()
        .regex(/^[^\s{}*?[\]\\]{0,64}$/, 'key_prefix is up to 64 characters without spaces, braces, "*", "?", "[", "]" or "\\" (braces would change Cluster slots)')
        .default('portcullis:'),
      command_timeout: duration.default(500).describe('a Redis command without an answer after this long fails, and the request gets a 503'),
    })
    .superRefine((redis, ctx) => {
      const modes = (['url', 'sentinel', 'cluster'] as const).filter((mode) => redis[mode] !== undefined);
      if (modes.length !== 1) {
        ctx.addIssue({ code: 'custom', message: `set exactly one of redis.url, redis.sentinel or redis.cluster (found ${modes.length ? modes.join(', ') : 'none'})` });
      }
      if (redis.url?.startsWith('redis://') && redis.tls) {
        ctx.addIssue({ code: 'custom', path: ['url'], message: 'redis.tls is set but redis.url starts with redis://; use rediss:// to connect with TLS' });
      }
      if (redis.command_timeout < 10 || redis.command_timeout > 60_000) {
        ctx.addIssue({ code: 'custom', path: ['command_timeout'], message: 'command_timeout must be between 10ms and 60s' });
      }
    });

  return { session, redis, shape: { session: session.prefault({}), redis: redis.optional() } };
}

export type SessionConfig = z.output<SessionConfigSchemas['session']>;
export type RedisConfig = z.output<SessionConfigSchemas['redis']>;

export interface SessionStoreConfig {
  readonly session: SessionConfig;
  readonly redis?: RedisConfig | undefined;
}

/** Add to the top-level schema: `.superRefine(checkSessionConfig)`. */
export function checkSessionConfig(config: SessionStoreConfig, ctx: z.RefinementCtx): void {
  if (config.session.store === 'redis' && !config.redis) {
    ctx.addIssue({ code: 'custom', path: ['redis'], message: 'session.store is "redis" but there is no redis: section; add redis.url (or redis.sentinel / redis.cluster)' });
  }
}

/** Also used by the rate limiter's own Redis connection (src/request/rate-limit.ts). */
export function tlsOptions(tls: RedisConfig['tls']): ConnectionOptions | undefined {
  if (!tls) return undefined;
  let ca: Buffer | undefined;
  if (tls.ca) {
    try {
      ca = readFileSync(tls.ca);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
      throw new Error(`redis.tls.ca: cannot read "${tls.ca}" (${code}); point it at a PEM file with the CA certificate that signed the Redis server certificate`);
    }
  }
  return { ...(ca ? { ca } : {}), rejectUnauthorized: !tls.insecure_skip_verify };
}

export function redisTarget(redis: RedisConfig): RedisTarget {
  if (redis.sentinel) {
    const { sentinels, master, username, password, sentinel_password, db } = redis.sentinel;
    return { mode: 'sentinel', sentinels, master, username, password, sentinelPassword: sentinel_password, db };
  }
  if (redis.cluster) return { mode: 'cluster', nodes: redis.cluster.nodes, username: redis.cluster.username, password: redis.cluster.password };
  return { mode: 'standalone', url: redis.url! };
}

/** The configured store. For Redis it starts connecting at once; call ping() for readiness. */
export function createSessionStore(config: SessionStoreConfig, logger: StoreLogger): SessionStore {
  if (config.session.store === 'memory') return new MemorySessionStore({ maxSessions: config.session.memory.max_sessions, logger });
  const redis = config.redis;
  if (!redis) throw new Error('session.store is "redis" but there is no redis: section; add redis.url (or redis.sentinel / redis.cluster)');
  if (redis.tls?.insecure_skip_verify) {
    logger.warn({ setting: 'redis.tls.insecure_skip_verify' }, 'Redis server certificate is NOT verified: anyone on the network path can read and change sessions; for testing only');
  }
  return new RedisSessionStore({
    target: redisTarget(redis),
    tls: tlsOptions(redis.tls) ?? (redis.url?.startsWith('rediss://') ? {} : undefined),
    keyPrefix: redis.key_prefix,
    commandTimeoutMs: redis.command_timeout,
    logger,
  });
}
