// The demo identity provider's accounts and the one decision about them:
// do these credentials sign this person in, and at which assurance level?
// Pure: no I/O, so the rules are easy to read and to test.

/** Assurance levels the demo provider issues as `acr`, weakest first. */
export const ACR_PASSWORD = 'urn:portcullis:demo:pwd';
export const ACR_MFA = 'urn:portcullis:demo:mfa';
export const demoAcrValues: readonly string[] = Object.freeze([ACR_PASSWORD, ACR_MFA]);

export interface DemoUser {
  /** the account id, the OIDC `sub` and the username typed on the login form */
  readonly id: string;
  /** shown on the login page: these accounts are for evaluation only */
  readonly password: string;
  readonly email: string;
  readonly email_verified: boolean;
  readonly name: string;
  readonly groups: readonly string[];
  /** the fixed one-time code of a user enrolled in MFA; absent means no second factor */
  readonly otp?: string;
}

/** The one-time code every demo user with MFA accepts; it is printed on the login page. */
export const DEMO_OTP = '123456';

export const defaultDemoUsers: readonly DemoUser[] = Object.freeze([
  { id: 'alice', password: 'alice-demo', email: 'alice@example.com', email_verified: true, name: 'Alice Anders', groups: ['engineering', 'admins'], otp: DEMO_OTP },
  { id: 'bob', password: 'bob-demo', email: 'bob@example.com', email_verified: true, name: 'Bob Brandt', groups: ['finance'], otp: DEMO_OTP },
  { id: 'carol', password: 'carol-demo', email: 'carol@contractor.example', email_verified: true, name: 'Carol Chen', groups: ['contractors'] },
  // An address nobody proved they own: policies that require a verified email must refuse her.
  { id: 'mallory', password: 'mallory-demo', email: 'mallory@example.com', email_verified: false, name: 'Mallory Moss', groups: ['engineering'] },
]);

export interface LoginAttempt {
  readonly username: string;
  readonly password: string;
  /** empty when the field was left blank */
  readonly otp: string;
}

export type LoginOutcome =
  | { readonly ok: true; readonly user: DemoUser; readonly acr: string; readonly amr: string[] }
  | { readonly ok: false; readonly reason: LoginFailure; readonly message: string };

export type LoginFailure = 'bad_credentials' | 'disabled' | 'otp_required' | 'bad_otp' | 'no_mfa_enrolled';

export interface LoginContext {
  /** the relying party asked for the MFA level (acr_values) */
  readonly mfaRequested: boolean;
  readonly isDisabled: (id: string) => boolean;
}

/**
 * Decides a login. A correct password alone gives the password level; a correct
 * one-time code on top gives the MFA level. When the relying party asked for MFA,
 * users who have a second factor must use it; users without one still sign in at
 * the password level, and the relying party decides what that is worth.
 */
export function decideLogin(users: readonly DemoUser[], attempt: LoginAttempt, context: LoginContext): LoginOutcome {
  const user = users.find((u) => u.id === attempt.username.trim().toLowerCase());
  // One message for unknown users and wrong passwords, as a real provider would.
  if (!user || !constantTimeEqual(user.password, attempt.password)) {
    return { ok: false, reason: 'bad_credentials', message: 'That username and password do not match. The demo accounts are listed below.' };
  }
  if (context.isDisabled(user.id)) {
    return { ok: false, reason: 'disabled', message: 'This account has been disabled.' };
  }
  const otp = attempt.otp.replace(/\s+/g, '');
  if (otp !== '') {
    if (user.otp === undefined) {
      return { ok: false, reason: 'no_mfa_enrolled', message: `${user.id} has no second factor enrolled. Leave the one-time code empty.` };
    }
    if (!constantTimeEqual(user.otp, otp)) {
      return { ok: false, reason: 'bad_otp', message: 'That one-time code is not valid.' };
    }
    return { ok: true, user, acr: ACR_MFA, amr: ['pwd', 'otp', 'mfa'] };
  }
  if (context.mfaRequested && user.otp !== undefined) {
    return { ok: false, reason: 'otp_required', message: 'This application requires a second factor. Enter your one-time code.' };
  }
  return { ok: true, user, acr: ACR_PASSWORD, amr: ['pwd'] };
}

/** True when the authorization request's acr_values can only be met by MFA. */
export function mfaRequested(acrValues: string | undefined): boolean {
  if (!acrValues) return false;
  const wanted = acrValues.split(' ').filter(Boolean);
  return wanted.includes(ACR_MFA) && !wanted.includes(ACR_PASSWORD);
}

/**
 * True when the session's current level is not among the acceptable acr_values,
 * so the person must authenticate again (a step-up). Unknown values are ignored:
 * acr_values is a voluntary request, and asking again cannot produce them.
 */
export function acrStepUpNeeded(acrValues: string | undefined, sessionAcr: string | undefined): boolean {
  if (!acrValues) return false;
  const wanted = acrValues.split(' ').filter((v) => demoAcrValues.includes(v));
  if (wanted.length === 0) return false;
  return sessionAcr === undefined || !wanted.includes(sessionAcr);
}

function constantTimeEqual(expected: string, given: string): boolean {
  // Demo secrets are short; comparing every character keeps the habit right.
  if (expected.length !== given.length) return false;
  let diff = 0;
  for (let i = 0; i < expected.length; i++) diff |= expected.charCodeAt(i) ^ given.charCodeAt(i);
  return diff === 0;
}
