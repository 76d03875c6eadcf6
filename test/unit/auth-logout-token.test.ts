// The claim rules of OpenID Connect Back-Channel Logout 1.0, section 2.6, on an already verified token.
import { describe, expect, it } from 'vitest';
import { checkLogoutClaims } from '../../src/auth/oidc.ts';

const EVENT = 'http://schemas.openid.net/event/backchannel-logout';
const valid = { iss: 'https://idp.test', aud: 'portcullis', iat: 1, jti: 'j1', sid: 'sid-1', sub: 'alice', events: { [EVENT]: {} } };

describe('a back-channel logout token', () => {
  it('names the provider session and the user to sign out', () => {
    expect(checkLogoutClaims(valid)).toEqual({ sub: 'alice', sid: 'sid-1', jti: 'j1' });
    const { sub: _sub, ...sidOnly } = valid;
    expect(checkLogoutClaims(sidOnly)).toEqual({ sub: undefined, sid: 'sid-1', jti: 'j1' });
  });

  it('is refused without the back-channel logout event', () => {
    const { events: _e, ...none } = valid;
    expect(() => checkLogoutClaims(none)).toThrow(/event/);
    expect(() => checkLogoutClaims({ ...valid, events: {} })).toThrow(/event/);
    expect(() => checkLogoutClaims({ ...valid, events: { [EVENT]: null } })).toThrow(/event/);
    expect(() => checkLogoutClaims({ ...valid, events: { [EVENT]: 'yes' } })).toThrow(/event/);
  });

  it('is refused with a nonce, so an ID token can never pass as one', () => {
    expect(() => checkLogoutClaims({ ...valid, nonce: 'n' })).toThrow(/nonce/);
  });

  it('is refused when it names neither a user nor a session', () => {
    const { sub: _s, sid: _i, ...neither } = valid;
    expect(() => checkLogoutClaims(neither)).toThrow(/sub|sid/);
  });

  it('is refused without a jti, since replays could not be detected', () => {
    const { jti: _j, ...noJti } = valid;
    expect(() => checkLogoutClaims(noJti)).toThrow(/jti/);
  });
});
