// Pure: turn what a device-trust service sent (JWT claims or trusted headers) into
// typed DeviceClaims. Nothing is coerced: a claim with the wrong type is dropped,
// so a policy that asks for `disk_encrypted: true` can only be satisfied by a real
// JSON true (or, from headers, the exact text "true").
import { RISK_LEVELS, type DeviceClaims, type PostureUser, type RiskLevel } from './facts.ts';
import type { HeaderClaim } from './config.ts';

const BOOLEAN_CLAIMS = ['managed', 'disk_encrypted', 'firewall', 'screen_lock', 'edr_running', 'compliant'] as const;
const STRING_CLAIMS = ['device_id', 'os', 'os_version'] as const;
/** longer strings are not facts a policy compares, so they are dropped rather than kept */
const MAX_STRING = 256;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_STRING ? value : undefined;
}

function risk(value: unknown): RiskLevel | undefined {
  return (RISK_LEVELS as readonly unknown[]).includes(value) ? (value as RiskLevel) : undefined;
}

/** Claims from a verified JWT payload; unknown claims are ignored. */
export function claimsFromPayload(payload: Readonly<Record<string, unknown>>): DeviceClaims {
  const out: Mutable<DeviceClaims> = {};
  for (const name of STRING_CLAIMS) {
    const v = text(payload[name]);
    if (v !== undefined) out[name] = v;
  }
  for (const name of BOOLEAN_CLAIMS) {
    const v = payload[name];
    if (typeof v === 'boolean') out[name] = v;
  }
  const r = risk(payload.risk);
  if (r !== undefined) out.risk = r;
  // Kept whatever their length: they were checked against the user (belongsToUser).
  if (typeof payload.sub === 'string') out.sub = payload.sub;
  if (typeof payload.email === 'string') out.email = payload.email;
  return out;
}

function headerBoolean(value: string): boolean | undefined {
  const v = value.trim().toLowerCase();
  return v === 'true' ? true : v === 'false' ? false : undefined;
}

/**
 * Claims from headers a trusted edge set. `headerFor` maps a claim to its lower-case
 * header name; a header sent twice is ambiguous and dropped.
 */
export function claimsFromHeaders(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  headerFor: ReadonlyMap<HeaderClaim, string>,
): DeviceClaims {
  const out: Mutable<DeviceClaims> = {};
  for (const [claim, header] of headerFor) {
    const raw = headers[header];
    if (typeof raw !== 'string') continue;
    if ((BOOLEAN_CLAIMS as readonly string[]).includes(claim)) {
      const v = headerBoolean(raw);
      if (v !== undefined) out[claim as (typeof BOOLEAN_CLAIMS)[number]] = v;
    } else if (claim === 'risk') {
      const r = risk(raw.trim().toLowerCase());
      if (r !== undefined) out.risk = r;
    } else {
      const v = text(raw.trim());
      if (v !== undefined) out[claim as (typeof STRING_CLAIMS)[number]] = v;
    }
  }
  return out;
}

/**
 * Posture that names a user (sub or email) must name the signed-in one: otherwise a
 * token lifted from a colleague's compliant laptop would vouch for any device.
 * Posture that names nobody describes only the device and is accepted for anyone.
 * Reads the raw payload so that a `sub` of the wrong type counts as naming someone
 * else, never as naming nobody.
 */
export function belongsToUser(payload: Readonly<Record<string, unknown>>, user: PostureUser | undefined): { ok: true } | { ok: false; reason: string } {
  const { sub, email } = payload;
  if (sub === undefined && email === undefined) return { ok: true };
  if (!user) return { ok: false, reason: 'posture belongs to another user: it names a user, but nobody is signed in' };
  if (sub !== undefined && sub !== user.sub) return { ok: false, reason: 'posture belongs to another user (sub does not match)' };
  if (email !== undefined && (typeof email !== 'string' || user.email === undefined || email.toLowerCase() !== user.email.toLowerCase())) {
    return { ok: false, reason: 'posture belongs to another user (email does not match)' };
  }
  return { ok: true };
}
