import { describe, expect, it } from 'vitest';
import { belongsToUser, claimsFromHeaders, claimsFromPayload } from '../../src/posture/claims.ts';
import type { HeaderClaim } from '../../src/posture/config.ts';

describe('posture claims from a verified token', () => {
  it('keeps the claims Portcullis understands, with their types', () => {
    const claims = claimsFromPayload({
      device_id: 'dev-1', managed: true, os: 'macOS', os_version: '15.2', disk_encrypted: true, firewall: false,
      screen_lock: true, edr_running: true, compliant: true, risk: 'low', sub: 'u1', email: 'a@example.com',
      iss: 'x', aud: 'y', serial: 'C02XYZ', groups: ['admins'],
    });
    expect(claims).toEqual({
      device_id: 'dev-1', managed: true, os: 'macOS', os_version: '15.2', disk_encrypted: true, firewall: false,
      screen_lock: true, edr_running: true, compliant: true, risk: 'low', sub: 'u1', email: 'a@example.com',
    });
  });

  it('drops a claim of the wrong type instead of coercing it: "false", 1 and "yes" are not true', () => {
    const claims = claimsFromPayload({
      managed: 'true', disk_encrypted: 'false', firewall: 1, screen_lock: 0, edr_running: 'yes', compliant: null,
      risk: 'HIGH', os: 15, os_version: 15.2, device_id: '',
    });
    expect(claims).toEqual({});
  });

  it('drops unknown risk levels and overlong strings', () => {
    expect(claimsFromPayload({ risk: 'critical' }).risk).toBeUndefined();
    expect(claimsFromPayload({ risk: 'medium' }).risk).toBe('medium');
    expect(claimsFromPayload({ device_id: 'x'.repeat(257) }).device_id).toBeUndefined();
    expect(claimsFromPayload({ device_id: 'x'.repeat(256) }).device_id).toHaveLength(256);
  });
});

describe('posture claims from trusted headers', () => {
  const map = new Map<HeaderClaim, string>([
    ['managed', 'x-device-managed'],
    ['disk_encrypted', 'x-device-disk-encrypted'],
    ['firewall', 'x-device-firewall'],
    ['device_id', 'x-device-id'],
    ['os_version', 'x-device-os-version'],
    ['risk', 'x-device-risk'],
  ]);

  it('reads "true"/"false" as booleans and text as text', () => {
    const claims = claimsFromHeaders(
      { 'x-device-managed': 'true', 'x-device-disk-encrypted': 'False', 'x-device-id': ' dev-7 ', 'x-device-os-version': '14.4.1', 'x-device-risk': 'Medium' },
      map,
    );
    expect(claims).toEqual({ managed: true, disk_encrypted: false, device_id: 'dev-7', os_version: '14.4.1', risk: 'medium' });
  });

  it('drops anything else: "1", "yes", empty, a header sent twice', () => {
    const claims = claimsFromHeaders({ 'x-device-managed': '1', 'x-device-disk-encrypted': 'yes', 'x-device-firewall': ['true', 'true'], 'x-device-id': '', 'x-device-risk': 'none' }, map);
    expect(claims).toEqual({});
  });

  it('ignores headers that are not mapped', () => {
    expect(claimsFromHeaders({ 'x-device-compliant': 'true' }, map)).toEqual({});
  });
});

describe('posture that names a user', () => {
  const alice = { sub: 'alice-sub', email: 'Alice@Example.com' };

  it('is accepted for that user; email compares case-insensitively', () => {
    expect(belongsToUser({ sub: 'alice-sub' }, alice)).toEqual({ ok: true });
    expect(belongsToUser({ email: 'alice@example.COM' }, alice)).toEqual({ ok: true });
    expect(belongsToUser({ sub: 'alice-sub', email: 'alice@example.com' }, alice)).toEqual({ ok: true });
  });

  it('is refused for anyone else', () => {
    expect(belongsToUser({ sub: 'bob-sub' }, alice)).toMatchObject({ ok: false, reason: expect.stringMatching(/another user/) });
    expect(belongsToUser({ email: 'bob@example.com' }, alice)).toMatchObject({ ok: false });
    expect(belongsToUser({ sub: 'alice-sub', email: 'bob@example.com' }, alice)).toMatchObject({ ok: false });
    expect(belongsToUser({ sub: 'ALICE-SUB' }, alice)).toMatchObject({ ok: false });
  });

  it('a sub or email of the wrong type or an odd length names someone else, not nobody', () => {
    expect(belongsToUser({ sub: 12345 }, alice)).toMatchObject({ ok: false });
    expect(belongsToUser({ email: ['alice@example.com'] }, alice)).toMatchObject({ ok: false });
    expect(belongsToUser({ sub: null }, alice)).toMatchObject({ ok: false });
    expect(belongsToUser({ sub: 'x'.repeat(300) }, alice)).toMatchObject({ ok: false });
    const long = { sub: 'y'.repeat(300) };
    expect(belongsToUser(long, long)).toEqual({ ok: true });
    expect(claimsFromPayload(long).sub).toBe(long.sub);
  });

  it('is refused when the user has no email to compare, or nobody is signed in', () => {
    expect(belongsToUser({ email: 'alice@example.com' }, { sub: 'alice-sub' })).toMatchObject({ ok: false });
    expect(belongsToUser({ sub: 'alice-sub' }, undefined)).toMatchObject({ ok: false, reason: expect.stringMatching(/nobody is signed in/) });
  });

  it('posture that names nobody describes only the device and fits any user', () => {
    expect(belongsToUser({ device_id: 'd1', managed: true }, alice)).toEqual({ ok: true });
    expect(belongsToUser({ device_id: 'd1' }, undefined)).toEqual({ ok: true });
  });
});
