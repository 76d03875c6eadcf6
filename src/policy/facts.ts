// The facts one policy decision reads. The request path builds them once per request;
// nothing in src/policy reads a clock, a socket or a store, so a decision can be
// replayed exactly (explain, test files, the audit log).
import type { SessionData } from '../auth/session-data.ts';

export interface UserFacts {
  readonly sub: string;
  readonly email?: string;
  /** only a verified email counts for emails and email_domains */
  readonly emailVerified: boolean;
  readonly groups: readonly string[];
  readonly claims: Readonly<Record<string, unknown>>;
  readonly acr?: string;
  readonly amr?: readonly string[];
  /** seconds since the epoch, as in the ID token's auth_time */
  readonly authTime?: number;
}

/**
 * Claims from a verified device posture assertion. Names follow the YAML keys of the
 * `device` criterion; a claim that is absent is "unknown", never "false".
 */
export interface DevicePosture {
  readonly managed?: boolean;
  readonly compliant?: boolean;
  readonly disk_encrypted?: boolean;
  readonly firewall?: boolean;
  readonly screen_lock?: boolean;
  readonly edr_running?: boolean;
  /** "low" | "medium" | "high" */
  readonly risk?: string;
  /** "macos" | "windows" | "linux" | "ios" | "android" | "chromeos" */
  readonly os?: string;
  /** dotted numeric version such as "14.4.1" or "10.0.22631" */
  readonly os_version?: string;
}

/** ok: false when a posture assertion was sent but could not be verified (the reason says why). */
export type DeviceFacts = { readonly ok: true; readonly claims: DevicePosture } | { readonly ok: false; readonly reason: string };

export interface RequestFacts {
  /** as sent: HTTP methods are case-sensitive */
  readonly method: string;
  /** the normalized path routing saw (src/request/target.ts), without the query */
  readonly path: string;
  /** the client address after trusted-proxy processing (src/request/client-ip.ts) */
  readonly clientIp: string;
  /** ISO 3166-1 alpha-2 from a geo lookup; undefined when unknown */
  readonly country?: string;
}

export interface Facts {
  /** ms since the epoch; the only clock a decision sees */
  readonly now: number;
  readonly request: RequestFacts;
  /** undefined: nobody is signed in */
  readonly user?: UserFacts;
  /** undefined: the client sent no device posture */
  readonly device?: DeviceFacts;
}

/** The user facts a signed-in session provides. */
export function userFactsFromSession(s: SessionData): UserFacts {
  return {
    sub: s.sub,
    email: s.email,
    emailVerified: s.emailVerified === true,
    groups: s.groups,
    claims: s.claims,
    acr: s.acr,
    amr: s.amr,
    authTime: s.authTime,
  };
}
