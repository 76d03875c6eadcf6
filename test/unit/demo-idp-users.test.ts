// The demo provider's login decision and step-up rule, as plain functions.
import { describe, expect, it } from 'vitest';
import { ACR_MFA, ACR_PASSWORD, DEMO_OTP, acrStepUpNeeded, decideLogin, defaultDemoUsers, mfaRequested } from '../../src/demo/idp-users.ts';

const nobodyDisabled = { mfaRequested: false, isDisabled: () => false };

describe('decideLogin', () => {
  it('gives the password level for a correct password alone', () => {
    expect(decideLogin(defaultDemoUsers, { username: 'alice', password: 'alice-demo', otp: '' }, nobodyDisabled)).toMatchObject({ ok: true, acr: ACR_PASSWORD, amr: ['pwd'] });
  });

  it('gives the MFA level for a correct password and code, ignoring spaces and the username case', () => {
    const outcome = decideLogin(defaultDemoUsers, { username: ' Alice ', password: 'alice-demo', otp: `${DEMO_OTP.slice(0, 3)} ${DEMO_OTP.slice(3)}` }, nobodyDisabled);
    expect(outcome).toMatchObject({ ok: true, acr: ACR_MFA, amr: ['pwd', 'otp', 'mfa'] });
  });

  it('answers unknown users and wrong passwords alike', () => {
    const unknown = decideLogin(defaultDemoUsers, { username: 'eve', password: 'x', otp: '' }, nobodyDisabled);
    const wrong = decideLogin(defaultDemoUsers, { username: 'alice', password: 'x', otp: '' }, nobodyDisabled);
    expect(unknown).toEqual(wrong);
    expect(wrong).toMatchObject({ ok: false, reason: 'bad_credentials' });
  });

  it('refuses a disabled account after checking its password', () => {
    const context = { mfaRequested: false, isDisabled: (id: string) => id === 'bob' };
    expect(decideLogin(defaultDemoUsers, { username: 'bob', password: 'bob-demo', otp: '' }, context)).toMatchObject({ ok: false, reason: 'disabled' });
    expect(decideLogin(defaultDemoUsers, { username: 'bob', password: 'no', otp: '' }, context)).toMatchObject({ ok: false, reason: 'bad_credentials' });
  });

  it('demands the code from users with MFA when MFA is requested, and lets users without it through at the password level', () => {
    const context = { mfaRequested: true, isDisabled: () => false };
    expect(decideLogin(defaultDemoUsers, { username: 'bob', password: 'bob-demo', otp: '' }, context)).toMatchObject({ ok: false, reason: 'otp_required' });
    expect(decideLogin(defaultDemoUsers, { username: 'carol', password: 'carol-demo', otp: '' }, context)).toMatchObject({ ok: true, acr: ACR_PASSWORD });
  });

  it('refuses a wrong code, and a code from a user without a second factor', () => {
    expect(decideLogin(defaultDemoUsers, { username: 'bob', password: 'bob-demo', otp: '654321' }, nobodyDisabled)).toMatchObject({ ok: false, reason: 'bad_otp' });
    expect(decideLogin(defaultDemoUsers, { username: 'carol', password: 'carol-demo', otp: DEMO_OTP }, nobodyDisabled)).toMatchObject({ ok: false, reason: 'no_mfa_enrolled' });
  });
});

describe('step-up rules', () => {
  it('mfaRequested is true only when the password level is not acceptable', () => {
    expect(mfaRequested(undefined)).toBe(false);
    expect(mfaRequested(ACR_MFA)).toBe(true);
    expect(mfaRequested(`${ACR_MFA} ${ACR_PASSWORD}`)).toBe(false);
  });

  it('acrStepUpNeeded asks again only when the session level is not among the known acceptable values', () => {
    expect(acrStepUpNeeded(undefined, ACR_PASSWORD)).toBe(false);
    expect(acrStepUpNeeded(ACR_MFA, ACR_PASSWORD)).toBe(true);
    expect(acrStepUpNeeded(ACR_MFA, ACR_MFA)).toBe(false);
    expect(acrStepUpNeeded(`${ACR_MFA} ${ACR_PASSWORD}`, ACR_PASSWORD)).toBe(false);
    expect(acrStepUpNeeded(ACR_MFA, undefined)).toBe(true);
    expect(acrStepUpNeeded('urn:unknown:level', ACR_PASSWORD)).toBe(false);
  });
});
