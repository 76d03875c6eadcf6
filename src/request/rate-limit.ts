// Rate limits (rate-limiter-flexible): per route, keyed by the signed-in user on
// protected routes and by client address on public routes and the sign-in endpoints.
//
// Decide purely, act at the edges: the spec comes from compile (pure data), the
// limiters are built once per configuration load (and reused across reloads when a
// limit did not change, so a reload does not hand everyone a fresh allowance), and
// the request path asks `consume` and acts on the verdict (429, metric, audit line).
//
// Storage: memory for one instance; Redis when session.store is redis, so every
// instance counts against the same numbers. Redis keys (P = redis.key_prefix):
//
//   P rl:route:<name>:{<hash>}        the route's window for one user or address
//   P rl:route:<name>:burst:{<hash>}  its burst allowance
//   P rl:login:{<hash>}               sign-in endpoints, per address
//
// <hash> is SHA-256/128 of "user:<sub>" or "ip:<address>", so a Redis dump lists no
// user, and the hash tag makes every key a one-slot key for Cluster. The keys
// depend only on route names, never on the limit, so they survive reloads.
//
// When Redis fails the limiter fails OPEN to per-instance counting: each limiter has
// an in-memory insurance limiter with the same numbers. A rate limit protects
// capacity, it is not access control; turning a Redis outage into refusals of public
// routes would be worse than a limit that is briefly N times looser. (Protected
// routes already answer 503 without Redis, because the session lookup fails closed.)
import { createHash } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Redis, Cluster } from 'ioredis';
import type { CompiledConfig } from '../config/compile.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../ops/metrics.ts';
import { clientFor } from '../session/redis-store.ts';
import { redisTarget, tlsOptions } from '../session/config.ts';

/** A limit as configured, in whole seconds (Redis expiries are whole seconds). */
export interface RateLimitSpec {
  readonly requests: number;
  readonly perS: number;
  /** extra requests once `requests` is used up; 0: none */
  readonly burst: number;
  readonly burstPerS: number;
}

/** What the schema validated: durations in milliseconds, whole seconds. */
export interface RateLimitSettings {
  readonly requests: number;
  readonly per: number;
  readonly burst?: number | undefined;
  readonly burst_per?: number | undefined;
}

/** Pure: the compiled form of a rate_limit: block. The burst window defaults to ten windows. */
export function rateLimitSpec(s: RateLimitSettings): RateLimitSpec {
  const perS = Math.round(s.per / 1000);
  return Object.freeze({ requests: s.requests, perS, burst: s.burst ?? 0, burstPerS: s.burst ? Math.round((s.burst_per ?? s.per * 10) / 1000) : 0 });
}

/** Sign-in endpoints that are limited per client address (one shared allowance for all three). */
export const LOGIN_LIMITED_PATHS: ReadonlySet<string> = new Set(['/.portcullis/start', '/.portcullis/callback', '/.portcullis/handoff']);

/** The metric and audit label for the sign-in endpoints' limit. */
export const LOGIN_LIMIT_ROUTE = '.portcullis';

export type KeyKind = 'user' | 'ip';

export type Verdict =
  | { readonly allowed: true }
  | {
      readonly allowed: false;
      /** whole seconds, at least 1, for Retry-After */
      readonly retryAfterS: number;
      /** this request is the first over the limit in its window (on any instance): audit it */
      readonly firstOver: boolean;
    };

const ALLOWED: Verdict = Object.freeze({ allowed: true });

/** Pure: Retry-After in whole seconds, never 0 (a client told "0" would retry at once). */
export function retryAfterSeconds(msBeforeNext: number): number {
  return Math.max(1, Math.ceil(msBeforeNext / 1000));
}

/**
 * Pure: the counting key for a client address. An IPv6 client usually holds a whole
 * /64 and can pick a fresh address per request, so IPv6 addresses count per /64.
 */
export function ipRateKey(ip: string): string {
  if (!ip.includes(':')) return ip;
  try {
    const address = ipaddr.IPv6.parse(ip);
    if (address.isIPv4MappedAddress()) return address.toIPv4Address().toString();
    return `${address.parts.slice(0, 4).map((p) => p.toString(16)).join(':')}::/64`;
  } catch {
    return ip;
  }
}

export interface Limiter {
  /** the route name, or ".portcullis" for the sign-in endpoints */
  readonly label: string;
  readonly spec: RateLimitSpec;
  consume(kind: KeyKind, key: string): Promise<Verdict>;
}

/** The limiters of one configuration snapshot. */
export interface RateLimits {
  /** undefined when the route has no limit: the caller does no further work */
  forRoute(routeName: string): Limiter | undefined;
  /** /.portcullis/start, callback and handoff; undefined when nothing needs sign-in */
  readonly login: Limiter | undefined;
}

export const NO_RATE_LIMITS: RateLimits = Object.freeze({ forRoute: () => undefined, login: undefined });

export interface RateLimiting {
  /** the limiters for a configuration; call on start and on every reload */
  build(config: CompiledConfig): RateLimits;
  close(): Promise<void>;
}

type RedisClient = Redis | Cluster;

/**
 * One per process. The Redis connection is our own, opened with the session store's
 * settings (same target, TLS, fast failure), for three reasons: rate-limiter-flexible
 * defines a Lua command on the client it is given, which should not reach into the
 * session store's client; public-only configurations have no session store at all; and
 * the session store's fail-closed client stays exactly as its contract tests know it.
 * Like the session store, it is opened with the first configuration that needs it and a
 * change of the redis: section takes a restart.
 */
export function createRateLimiting(logger: Logger): RateLimiting {
  let client: RedisClient | undefined;
  let redisPrefix = '';
  /** limiters by scope and numbers: reused while a limit is unchanged, so reloads keep counts */
  let built = new Map<string, Limiter>();

  function redisClient(config: CompiledConfig): RedisClient | undefined {
    const redis = config.sessionStore.redis;
    if (config.sessionStore.session.store !== 'redis' || !redis) return undefined;
    if (client) return client;
    redisPrefix = redis.key_prefix;
    const c = clientFor({
      target: redisTarget(redis),
      tls: tlsOptions(redis.tls) ?? (redis.url?.startsWith('rediss://') ? {} : undefined),
      commandTimeoutMs: redis.command_timeout,
    });
    let down = false;
    c.on('error', (error: Error & { code?: string }) => {
      if (down) return;
      down = true;
      // Only the code and message: ioredis errors can carry command arguments.
      logger.warn({ type: 'rate_limit', event: 'redis_unavailable', error: error.message, code: error.code }, 'rate limits cannot reach Redis; each instance counts on its own until it is back');
    });
    c.on('ready', () => {
      if (!down) return;
      down = false;
      logger.info({ type: 'rate_limit', event: 'redis_available' }, 'rate limits are shared through Redis again');
    });
    client = c;
    return c;
  }

  function limiterFor(label: string, scope: string, spec: RateLimitSpec, redis: RedisClient | undefined, next: Map<string, Limiter>): Limiter {
    const cacheKey = `${redis ? 'redis' : 'memory'} ${scope} ${spec.requests}/${spec.perS} ${spec.burst}/${spec.burstPerS}`;
    const limiter = built.get(cacheKey) ?? createLimiter(label, scope, spec, redis, redisPrefix);
    next.set(cacheKey, limiter);
    return limiter;
  }

  return {
    build(config) {
      const redis = redisClient(config);
      const next = new Map<string, Limiter>();
      const byRoute = new Map<string, Limiter>();
      for (const route of config.routes) {
        if (route.rateLimit) byRoute.set(route.name, limiterFor(route.name, `route:${route.name}`, route.rateLimit, redis, next));
      }
      const login = config.auth ? limiterFor(LOGIN_LIMIT_ROUTE, 'login', config.rateLimits.login, redis, next) : undefined;
      built = next;
      return Object.freeze({ forRoute: (name: string) => byRoute.get(name), login });
    },
    async close() {
      await client?.quit().catch(() => undefined);
      client = undefined;
    },
  };
}

function createLimiter(label: string, scope: string, spec: RateLimitSpec, redis: RedisClient | undefined, redisPrefix: string): Limiter {
  const store = (keyPrefix: string, points: number, duration: number): RateLimiterAbstract => {
    const memory = new RateLimiterMemory({ keyPrefix, points, duration });
    if (!redis) return memory;
    // Not ready (reconnecting): go to the insurance limiter at once instead of waiting for a timeout.
    return new RateLimiterRedis({ storeClient: redis, keyPrefix: `${redisPrefix}rl:${keyPrefix}`, points, duration, rejectIfRedisNotReady: true, insuranceLimiter: memory });
  };
  const main = store(scope, spec.requests, spec.perS);
  const burst = spec.burst > 0 ? store(`${scope}:burst`, spec.burst, spec.burstPerS) : undefined;
  // In Redis the key is hashed (no user in a dump) and wrapped in a hash tag (one slot).
  const keyOf = redis ? (kind: KeyKind, key: string) => `{${createHash('sha256').update(`${kind}:${key}`).digest('base64url').slice(0, 22)}}` : (kind: KeyKind, key: string) => `${kind}:${key}`;

  return {
    label,
    spec,
    // The burst is composed here rather than with BurstyRateLimiter, which hides which
    // of the two allowances ran out, and that decides whether to write the audit line.
    async consume(kind, key) {
      const k = keyOf(kind, key);
      let over: RateLimiterRes;
      try {
        await main.consume(k);
        return ALLOWED;
      } catch (err) {
        if (!(err instanceof RateLimiterRes)) throw err;
        over = err;
      }
      if (!burst) return { allowed: false, retryAfterS: retryAfterSeconds(over.msBeforeNext), firstOver: over.consumedPoints === spec.requests + 1 };
      try {
        await burst.consume(k);
        return ALLOWED;
      } catch (err) {
        if (!(err instanceof RateLimiterRes)) throw err;
        // Either allowance coming back lets the client in again.
        return { allowed: false, retryAfterS: retryAfterSeconds(Math.min(over.msBeforeNext, err.msBeforeNext)), firstOver: err.consumedPoints === spec.burst + 1 };
      }
    },
  };
}

/** Where a limited request came from, for the metric and the audit line. */
export interface RateLimitContext {
  readonly requestId: string;
  readonly method: string;
  readonly host: string;
  readonly path: string;
  readonly clientIp: string;
  /** the user's sub on protected routes */
  readonly user?: string | undefined;
  readonly websocket?: boolean;
}

/**
 * Consume one request and act on the verdict's side effects (metric, audit line).
 * Returns the Retry-After seconds when the request is over the limit, else undefined.
 * Fails open: a limiter error (both Redis and its insurance failing) lets the request through.
 */
export async function enforceRateLimit(limiter: Limiter, kind: KeyKind, key: string, ctx: RateLimitContext, logger: Logger, metrics: Metrics): Promise<number | undefined> {
  let verdict: Verdict;
  try {
    verdict = await limiter.consume(kind, kind === 'ip' ? ipRateKey(key) : key);
  } catch (err) {
    logger.warn({ type: 'rate_limit', event: 'limiter_failed', request_id: ctx.requestId, route: limiter.label, error: (err as Error)?.message }, 'rate limiter failed; the request was let through');
    return undefined;
  }
  if (verdict.allowed) return undefined;
  metrics.countRateLimited(limiter.label, kind);
  // One audit line per key and window (the first refusal, on whichever instance saw it);
  // every refused request still has its access line, and the metric counts them all.
  if (verdict.firstOver) {
    logger.info(
      {
        type: 'rate_limit',
        request_id: ctx.requestId,
        route: limiter.label,
        key_kind: kind,
        user: ctx.user,
        client_ip: ctx.clientIp,
        limit: limiter.spec.requests,
        window_s: limiter.spec.perS,
        burst: limiter.spec.burst || undefined,
        retry_after_s: verdict.retryAfterS,
        method: ctx.method,
        host: ctx.host,
        path: ctx.path,
        websocket: ctx.websocket,
      },
      'rate limit reached',
    );
  }
  return verdict.retryAfterS;
}

/** The 429's extra response headers and JSON fields. */
export function rateLimitedDetails(retryAfterS: number) {
  return { headers: { 'retry-after': String(retryAfterS) }, extra: { retry_after: retryAfterS } };
}
