// Decisions are data. Every allow or deny carries reasons: which criterion decided,
// whether it passed, failed or could not be checked, a sentence for the person in
// front of the screen and a stable code for machines (the 403 page, JSON errors,
// the audit log and `portcullis explain` all read the same reasons).

/** A criterion's verdict. "unknown": a fact it needs is missing or unreadable. */
export type Outcome = 'pass' | 'fail' | 'unknown';

/**
 * Every reason code, with what it means. docs/policy.md lists the same codes
 * (a unit test keeps the two in sync). Codes are stable: dashboards and alerts use them.
 */
export const reasonCodes = {
  // user
  'user-authenticated': 'a user is signed in',
  'user-unauthenticated': 'nobody is signed in, so no user criterion can be checked',
  'user-ok': 'the user id (sub) is one of those listed',
  'user-unauthorized': 'the user id (sub) is not one of those listed',
  'email-ok': 'the verified email address is one of those listed',
  'email-unauthorized': 'the email address is not one of those listed',
  'email-missing': 'the identity provider sent no email address',
  'email-unverified': 'the email address is not verified by the identity provider (email_verified is not true)',
  'email-malformed': 'the email address does not have exactly one "@"',
  'email-domain-ok': 'the verified email address is in one of the listed domains',
  'email-domain-unauthorized': 'the email address is not in any of the listed domains',
  'groups-ok': 'the user is in at least one of the listed groups',
  'groups-unauthorized': 'the user is in none of the listed groups',
  'not-groups-ok': 'the user is in none of the excluded groups',
  'groups-excluded': 'the user is in one of the excluded groups',
  'claims-ok': 'every claim condition holds',
  'claims-unauthorized': 'a claim has another value (or type) than required',
  'claim-missing': 'a claim the rule checks is absent',
  // strength of the sign-in
  'mfa-ok': 'the sign-in used a multi-factor method',
  'mfa-required': 'the sign-in did not use a multi-factor method; signing in again with one fixes it',
  'mfa-unknown': 'the identity provider did not say how the user signed in (no amr claim)',
  'acr-ok': 'the sign-in has one of the listed authentication context classes (acr)',
  'acr-required': 'the sign-in has another acr than required; signing in again can fix it',
  'acr-unknown': 'the identity provider sent no acr claim',
  'auth-age-ok': 'the user signed in recently enough',
  'reauthentication-required': 'the sign-in is older than max_auth_age; signing in again fixes it',
  'auth-time-unknown': 'the identity provider sent no auth_time claim',
  // where and when
  'network-ok': 'the client address is in one of the listed networks',
  'network-unauthorized': 'the client address is in none of the listed networks',
  'client-ip-unknown': 'the client address could not be read',
  'country-ok': 'the request comes from one of the listed countries',
  'country-unauthorized': 'the request comes from a country that is not listed',
  'country-unknown': 'the country of the request is not known',
  'time-ok': 'the request falls inside the time window',
  'time-outside-window': 'the request falls outside the time window',
  'time-unknown': 'the request time is not a valid instant',
  'method-ok': 'the HTTP method is one of those listed',
  'method-unauthorized': 'the HTTP method is not one of those listed',
  'path-ok': 'the path is below one of the listed prefixes',
  'path-unauthorized': 'the path is below none of the listed prefixes',
  // device
  'device-ok': 'the device meets every posture requirement',
  'device-unknown': 'no verified device posture came with the request',
  'device-claim-missing': 'the device posture lacks a claim the rule checks',
  'device-unmanaged': 'the device is not managed by the organization',
  'device-noncompliant': 'the device is not compliant with the organization\'s device policy',
  'device-disk-unencrypted': 'the device reports disk encryption off',
  'device-firewall-off': 'the device reports its firewall off',
  'device-screen-lock-off': 'the device reports no screen lock',
  'device-edr-not-running': 'the device reports its endpoint protection (EDR) not running',
  'device-risk-too-high': 'the device\'s risk level is above max_risk',
  'device-os-unsupported': 'the device runs an operating system that is not allowed',
  'device-os-outdated': 'the device\'s operating system is older than os_min',
  // negation
  'exclusion-ok': 'a "not" criterion holds: the excluded condition does not apply',
  excluded: 'a "not" criterion fails: the excluded condition applies',
  // decision level
  'deny-rule-matched': 'a deny rule matched, which overrides every allow rule',
  'route-public': 'the route is public: no sign-in and no policy',
  'route-not-found': 'no route serves this host and path',
  'policy-error': 'the policy could not be evaluated, so access is refused',
} as const;

export type ReasonCode = keyof typeof reasonCodes;

export interface Reason {
  /** the YAML key that decided: "groups", "device", "not.country" */
  readonly criterion: string;
  readonly outcome: Outcome;
  readonly code: ReasonCode | `${string}-denied`;
  /** for the person: what the app needs and what was seen */
  readonly message: string;
  /** the rule the reason comes from: its name, or "allow[0]" / "deny[1]" */
  readonly rule?: string;
}

/** Codes a matched deny rule reports: the criterion's base plus "-denied", e.g. country-denied. */
export function deniedCode(base: string): `${string}-denied` {
  return `${base}-denied`;
}

/** "a, b or c" for messages. Lists from config are short; long ones are cut. */
export function listWords(items: readonly string[], conjunction = 'or', max = 8): string {
  const shown = items.length > max ? [...items.slice(0, max), `${items.length - max} more`] : items;
  if (shown.length <= 1) return shown.join('');
  return `${shown.slice(0, -1).join(', ')} ${conjunction} ${shown[shown.length - 1]}`;
}

/** Values from facts shown in messages are cut and stripped of control characters. */
export function quoteFact(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
  return clean.length > 80 ? `${clean.slice(0, 77)}...` : clean;
}
