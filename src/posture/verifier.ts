// The posture verifier: built once when the configuration loads (keys read, header
// names lower-cased, resolver created), then asked once per request for the device
// facts. It never throws for anything a client sends; it answers with DeviceFacts.
import { readFileSync } from 'node:fs';
import type { JWK } from 'jose';
import type { DevicePostureConfig, HeaderClaim } from './config.ts';
import { postureFailure, type DeviceFacts, type PostureUser } from './facts.ts';
import { belongsToUser, claimsFromHeaders, claimsFromPayload } from './claims.ts';
import { checkFreshness } from './freshness.ts';
import { parseKeyFile, remoteKeyResolver, staticKeyResolver } from './keys.ts';
import { verifyPostureJwt, type JwtCheck } from './verify-jwt.ts';
import { VerificationCache, type CachedVerification } from './cache.ts';
import type { MaybePromise } from '../maybe-promise.ts';

export interface PostureLogger {
  warn(fields: Record<string, unknown>, message: string): void;
}

export interface PostureVerifierOptions {
  readonly logger: PostureLogger;
  /** read a key file; tests pass their own */
  readonly readFile?: (path: string) => string;
  /** how many verified tokens to remember (default 10 000) */
  readonly cacheEntries?: number;
}

export type RequestHeaders = Readonly<Record<string, string | string[] | undefined>>;

export interface PostureVerifier {
  /** Device facts for one request. `peerTrusted`: the TCP peer is one of trusted_proxies. */
  verify(headers: RequestHeaders, user: PostureUser | undefined, peerTrusted: boolean, nowMs: number): MaybePromise<DeviceFacts>;
  /** whether checkDeviceBinding should be applied to sessions */
  readonly sessionBinding: boolean;
  /** lower-case names of every header posture is read from (the caller may strip them before forwarding) */
  readonly headerNames: readonly string[];
}

/** A problem in device_posture found while building the verifier, with its key path below device_posture. */
export interface PostureConfigProblem {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

export class PostureConfigError extends Error {
  readonly problems: readonly PostureConfigProblem[];
  constructor(problems: readonly PostureConfigProblem[]) {
    super(`invalid device_posture configuration:\n${problems.map((p) => `  device_posture.${p.path.join('.')}: ${p.message}`).join('\n')}`);
    this.name = 'PostureConfigError';
    this.problems = problems;
  }
}

/** Keys-unreachable warnings are logged at most this often: an outage must not flood the log. */
const UNAVAILABLE_LOG_INTERVAL_MS = 30_000;

export function createPostureVerifier(config: DevicePostureConfig, options: PostureVerifierOptions): PostureVerifier {
  const { logger } = options;
  const read = options.readFile ?? ((path: string) => readFileSync(path, 'utf8'));
  const jwtCheck = buildJwtCheck(config, read, logger);
  const postureHeader = config.header.toLowerCase();
  const trustedHeaders = new Map<HeaderClaim, string>();
  for (const [claim, header] of Object.entries(config.trusted_headers ?? {})) {
    if (header !== undefined) trustedHeaders.set(claim as HeaderClaim, header.toLowerCase());
  }
  const cache = new VerificationCache(options.cacheEntries ?? 10_000);
  // The verification a user object last got, keyed by that object: the session, which the
  // session cache hands out for a second at a time. Comparing the token with the one it was
  // for costs less than hashing a token of hundreds of characters for the cache's Map.
  const lastFor = new WeakMap<PostureUser, { token: string; hit: CachedVerification }>();
  let lastUnavailableLog = -Infinity;

  /** A token verified before (for this user) is answered at once; a new one needs its signature checked. */
  function verifyToken(raw: string | string[], user: PostureUser | undefined, check: JwtCheck, nowMs: number): MaybePromise<DeviceFacts> {
    if (Array.isArray(raw)) return postureFailure('posture-invalid', `device posture was sent more than once in ${config.header}`);
    const last = user && lastFor.get(user);
    const hit = last !== undefined && last.token === raw ? last.hit : cache.get(raw, user);
    if (hit) {
      const failure = checkFreshness(hit.times, nowMs, check.maxAgeMs);
      if (!failure) {
        if (user && hit !== last?.hit) lastFor.set(user, { token: raw, hit });
        return hit.facts;
      }
      cache.delete(raw);
      if (user) lastFor.delete(user);
      return failure;
    }
    return verifyNewToken(raw, user, check, nowMs);
  }

  async function verifyNewToken(raw: string, user: PostureUser | undefined, check: JwtCheck, nowMs: number): Promise<DeviceFacts> {
    const result = await verifyPostureJwt(raw, check, nowMs);
    if (!result.ok) {
      if (result.code === 'posture-keys-unavailable' && nowMs - lastUnavailableLog >= UNAVAILABLE_LOG_INTERVAL_MS) {
        lastUnavailableLog = nowMs;
        logger.warn({ jwks_url: config.jwks_url, reason: result.reason }, 'device posture keys unreachable: every request with posture is treated as having none until the JWKS answers');
      }
      return result;
    }
    const owner = belongsToUser(result.payload, user);
    if (!owner.ok) return postureFailure('posture-wrong-user', owner.reason);
    const claims = claimsFromPayload(result.payload);
    const facts = Object.freeze({ ok: true as const, claims: Object.freeze(claims), source: 'jwt' as const });
    cache.set(raw, user, { facts, times: result.times });
    return facts;
  }

  function fromHeaders(headers: RequestHeaders, peerTrusted: boolean): DeviceFacts {
    const sent = [...trustedHeaders.values()].filter((h) => headers[h] !== undefined);
    if (sent.length === 0) return postureFailure('posture-missing', 'no device posture was sent');
    // Anyone can send these headers; only an edge we trust (a trusted proxy that
    // strips and re-sets them) makes them facts.
    if (!peerTrusted) {
      return postureFailure('posture-untrusted-headers', `device posture headers (${sent.join(', ')}) were ignored: the connection does not come from one of trusted_proxies`);
    }
    return Object.freeze({ ok: true as const, claims: Object.freeze(claimsFromHeaders(headers, trustedHeaders)), source: 'headers' as const });
  }

  return Object.freeze({
    sessionBinding: config.session_binding,
    headerNames: Object.freeze([...(jwtCheck ? [postureHeader] : []), ...trustedHeaders.values()]),
    verify(headers: RequestHeaders, user: PostureUser | undefined, peerTrusted: boolean, nowMs: number): MaybePromise<DeviceFacts> {
      const raw = jwtCheck ? headers[postureHeader] : undefined;
      // A signed token, when sent, is the answer: a bad one does not fall back to headers.
      if (raw !== undefined && raw !== '' && jwtCheck) return verifyToken(raw, user, jwtCheck, nowMs);
      if (trustedHeaders.size > 0) return fromHeaders(headers, peerTrusted);
      return postureFailure('posture-missing', `no device posture was sent (${config.header} header)`);
    },
  });
}

function buildJwtCheck(config: DevicePostureConfig, read: (path: string) => string, logger: PostureLogger): JwtCheck | undefined {
  if (config.jwks_url === undefined && config.keys === undefined) return undefined;
  // The schema requires both whenever a key source is configured.
  const issuer = config.issuer!;
  const audience = config.audience!;
  const common = { issuer, audience, algorithms: config.algorithms, maxAgeMs: config.max_age };
  if (config.jwks_url !== undefined) {
    const url = new URL(config.jwks_url);
    if (url.protocol === 'http:') {
      logger.warn({ jwks_url: config.jwks_url }, 'device_posture.insecure_allow_http: posture keys are fetched over plain http; anyone on the network path can replace them. Use this for tests and demos only');
    }
    return { ...common, getKey: remoteKeyResolver(url, { timeoutMs: config.jwks_timeout, cooldownMs: config.jwks_cooldown }) };
  }
  const problems: PostureConfigProblem[] = [];
  const keys: JWK[] = [];
  config.keys!.forEach((file, i) => {
    let text: string;
    try {
      text = read(file);
    } catch (err) {
      problems.push({ path: ['keys', i], message: `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})` });
      return;
    }
    try {
      keys.push(...parseKeyFile(text));
    } catch (err) {
      problems.push({ path: ['keys', i], message: `${file} ${(err as Error).message}` });
    }
  });
  const kids = new Set<string>();
  for (const k of keys) {
    if (kids.has(k.kid!)) problems.push({ path: ['keys'], message: `two keys share the kid "${k.kid}"; a kid must select exactly one key` });
    kids.add(k.kid!);
  }
  if (problems.length) throw new PostureConfigError(problems);
  return { ...common, getKey: staticKeyResolver(keys) };
}
