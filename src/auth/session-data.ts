// What Portcullis keeps about a signed-in user, inside the sealed session record.
// Only the session layer sees it serialized; nothing here is ever sent to a browser.
import type { MaybePromise } from '../maybe-promise.ts';

export interface SessionData {
  readonly v: 1;
  readonly sub: string;
  readonly email?: string;
  readonly emailVerified?: boolean;
  readonly name?: string;
  readonly groups: readonly string[];
  /** other claims from the ID token and userinfo, for header templates and policy */
  readonly claims: Readonly<Record<string, unknown>>;
  readonly acr?: string;
  readonly amr?: readonly string[];
  /** seconds since the epoch, as in the ID token */
  readonly authTime?: number;
  /** the provider's session id, for back-channel logout */
  readonly sid?: string;
  readonly idToken?: string;
  readonly accessToken?: string;
  readonly refreshToken?: string;
  /** when the access token (or, without one, the ID token) expires, ms since the epoch */
  readonly tokenExpiresAt: number;
  readonly createdAt: number;
  readonly refreshedAt?: number;
  /** when this session came from a step-up sign-in (acr_values, max_age or prompt=login) */
  readonly stepUpAt?: number;
  /** the device this session is bound to (device_id from its first verified posture) */
  readonly deviceId?: string;
}

/** What the login and request paths need from the session layer. */
export interface Sessions {
  create(data: SessionData): Promise<{ ticket: string; id: string }>;
  /**
   * undefined: no such session (unknown, expired, tampered). Throws when the store is unreachable.
   * fresh: read the store even if this process holds a copy from the last second (before a refresh).
   * A copy this process holds is returned as it is, not wrapped in a promise.
   */
  load(ticket: string, options?: { fresh?: boolean }): MaybePromise<{ id: string; data: SessionData } | undefined>;
  /** false when the session no longer exists (revoked meanwhile): it is not brought back */
  update(ticket: string, data: SessionData): Promise<boolean>;
  revoke(ticket: string): Promise<void>;
  revokeBySid(sid: string): Promise<number>;
  revokeByUser(subOrEmail: string): Promise<number>;
  /** true the first time a key is claimed within ttl (single-use tokens), false after */
  claimOnce(key: string, ttlMs: number): Promise<boolean>;
  /** run fn holding a lock shared by every instance; undefined when another holder has it */
  withLock<T>(key: string, ttlMs: number, fn: () => Promise<T>): Promise<{ acquired: true; value: T } | { acquired: false }>;
  /** for /readyz */
  ping(): Promise<void>;
  /** called when this or another instance revoked sessions (Redis pub/sub) */
  onRevoked(callback: () => void): void;
  close(): Promise<void>;
}

/** Claims kept as they are; everything else from the ID token is protocol noise. */
const PROTOCOL_CLAIMS = new Set(['iss', 'aud', 'exp', 'iat', 'nbf', 'nonce', 'at_hash', 'c_hash', 's_hash', 'azp', 'jti', 'auth_time', 'acr', 'amr', 'sid', 'sub', 'email', 'email_verified', 'name']);

export function sessionFromClaims(
  claims: Record<string, unknown>,
  tokens: { idToken?: string; accessToken?: string; refreshToken?: string; expiresInSeconds?: number },
  settings: { emailClaim: string; groupsClaim: string },
  now: number,
): SessionData {
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(claims)) if (!PROTOCOL_CLAIMS.has(k) && k !== settings.groupsClaim) extra[k] = v;
  const idExp = typeof claims.exp === 'number' ? claims.exp * 1000 : now + 300_000;
  const email = claims[settings.emailClaim];
  return {
    v: 1,
    sub: String(claims.sub),
    email: typeof email === 'string' ? email : undefined,
    emailVerified: claims.email_verified === true,
    name: typeof claims.name === 'string' ? claims.name : undefined,
    groups: toGroups(claims[settings.groupsClaim]),
    claims: extra,
    acr: typeof claims.acr === 'string' ? claims.acr : undefined,
    amr: Array.isArray(claims.amr) ? claims.amr.filter((x): x is string => typeof x === 'string') : undefined,
    authTime: typeof claims.auth_time === 'number' ? claims.auth_time : undefined,
    sid: typeof claims.sid === 'string' ? claims.sid : undefined,
    idToken: tokens.idToken,
    accessToken: tokens.accessToken,
    refreshToken: tokens.refreshToken,
    tokenExpiresAt: tokens.expiresInSeconds ? now + tokens.expiresInSeconds * 1000 : idExp,
    createdAt: now,
  };
}

/** Groups may arrive as an array, a single string or not at all; anything else counts as none. */
export function toGroups(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((g): g is string => typeof g === 'string' && g.length > 0);
  if (typeof value === 'string' && value) return [value];
  return [];
}
