// What device posture verification hands to the policy engine: either verified
// claims about the device, or a reason why there are none. A failure is data,
// never an exception, and never a guess: missing posture means "nothing known".

/** Risk levels a device-trust service may report. */
export const RISK_LEVELS = ['low', 'medium', 'high'] as const;
export type RiskLevel = (typeof RISK_LEVELS)[number];

/**
 * Facts about the device, named exactly as the device-trust service sends them so
 * that a policy reads like the token. A claim that was absent or had the wrong type
 * is simply missing: `disk_encrypted: "false"` never becomes true.
 */
export interface DeviceClaims {
  readonly device_id?: string;
  readonly managed?: boolean;
  readonly os?: string;
  readonly os_version?: string;
  readonly disk_encrypted?: boolean;
  readonly firewall?: boolean;
  readonly screen_lock?: boolean;
  readonly edr_running?: boolean;
  readonly compliant?: boolean;
  readonly risk?: RiskLevel;
  /** the user the posture was issued for, when the service names one (already checked to match) */
  readonly sub?: string;
  readonly email?: string;
}

export type PostureFailureCode =
  | 'posture-missing'
  | 'posture-invalid'
  | 'posture-expired'
  | 'posture-stale'
  | 'posture-keys-unavailable'
  | 'posture-wrong-user'
  | 'posture-untrusted-headers';

export type DeviceFacts =
  | { readonly ok: true; readonly claims: DeviceClaims; readonly source: 'jwt' | 'headers' }
  | { readonly ok: false; readonly reason: string; readonly code: PostureFailureCode };

export type PostureFailure = Extract<DeviceFacts, { ok: false }>;

/** The signed-in user the posture must belong to; undefined when nobody is signed in. */
export interface PostureUser {
  readonly sub: string;
  readonly email?: string;
}

export function postureFailure(code: PostureFailureCode, reason: string): PostureFailure {
  return { ok: false, code, reason };
}
