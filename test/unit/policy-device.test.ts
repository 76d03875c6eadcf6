// device: posture claims; no posture or missing claims are unknown, never a pass.
import { describe, expect, it } from 'vitest';
import { criterion, facts, outcome, DEVICE } from './policy-fixtures.ts';
import { compareVersions } from '../../src/policy/criteria/device.ts';
import { compileStandalonePolicy } from '../../src/policy/compile.ts';
import type { DeviceFacts } from '../../src/policy/facts.ts';

const posture = (claims: Record<string, unknown>): DeviceFacts => ({ ok: true, claims: { ...(DEVICE as { claims: object }).claims, ...claims } });
const on = (device: DeviceFacts | null) => facts({ device });

describe('device', () => {
  it.each<[string, Record<string, unknown>, DeviceFacts | null, string, string?]>([
    ['a managed, encrypted device passes', { managed: true, disk_encrypted: true }, posture({}), 'pass'],
    ['disk encryption off fails', { managed: true, disk_encrypted: true }, posture({ disk_encrypted: false }), 'fail', 'device-disk-unencrypted'],
    ['unmanaged fails', { managed: true }, posture({ managed: false }), 'fail', 'device-unmanaged'],
    ['not compliant fails', { compliant: true }, posture({ compliant: false }), 'fail', 'device-noncompliant'],
    ['firewall off fails', { firewall: true }, posture({ firewall: false }), 'fail', 'device-firewall-off'],
    ['no screen lock fails', { screen_lock: true }, posture({ screen_lock: false }), 'fail', 'device-screen-lock-off'],
    ['EDR not running fails', { edr_running: true }, posture({ edr_running: false }), 'fail', 'device-edr-not-running'],
    ['a "true" string is not true', { managed: true }, posture({ managed: 'true' }), 'unknown', 'device-claim-missing'],
    ['a missing claim is unknown', { firewall: true }, posture({ firewall: undefined }), 'unknown', 'device-claim-missing'],
    ['no posture is unknown', { managed: true }, null, 'unknown', 'device-unknown'],
    ['an unverifiable posture is unknown', { managed: true }, { ok: false, reason: 'signature expired' }, 'unknown', 'device-unknown'],
    ['a failure beats an unknown', { managed: true, firewall: true }, posture({ managed: false, firewall: undefined }), 'fail', 'device-unmanaged'],
    ['risk low within medium', { max_risk: 'medium' }, posture({ risk: 'low' }), 'pass'],
    ['risk medium within medium', { max_risk: 'medium' }, posture({ risk: 'medium' }), 'pass'],
    ['risk high above medium', { max_risk: 'medium' }, posture({ risk: 'high' }), 'fail', 'device-risk-too-high'],
    ['an unheard-of risk level is unknown', { max_risk: 'medium' }, posture({ risk: 'severe' }), 'unknown'],
    ['an allowed os', { os: ['macos', 'Windows'] }, posture({ os: 'windows' }), 'pass'],
    ['another os', { os: ['macos', 'windows'] }, posture({ os: 'linux' }), 'fail', 'device-os-unsupported'],
    ['os_min met', { os_min: { macos: '14.4' } }, posture({ os: 'macos', os_version: '14.4.1' }), 'pass'],
    ['os_min met exactly', { os_min: { macos: '14.4' } }, posture({ os: 'macos', os_version: '14.4' }), 'pass'],
    ['os_min: 14.10 is newer than 14.4', { os_min: { macos: '14.4' } }, posture({ os: 'macos', os_version: '14.10' }), 'pass'],
    ['os_min not met', { os_min: { macos: '14.4' } }, posture({ os: 'macos', os_version: '14.3.9' }), 'fail', 'device-os-outdated'],
    ['os_min: windows build', { os_min: { windows: '10.0.22631' } }, posture({ os: 'windows', os_version: '10.0.19045' }), 'fail', 'device-os-outdated'],
    ['os_min keys are the allowed systems', { os_min: { macos: '14.4' } }, posture({ os: 'linux', os_version: '6.8' }), 'fail', 'device-os-unsupported'],
    ['os listed without a minimum passes os_min', { os: ['macos', 'linux'], os_min: { macos: '14.4' } }, posture({ os: 'linux', os_version: '6.8' }), 'pass'],
    ['an unreadable version is unknown', { os_min: { macos: '14.4' } }, posture({ os: 'macos', os_version: '14.4 beta' }), 'unknown'],
  ])('%s', (_, device, deviceFacts, want, code) => {
    const c = criterion({ device });
    expect(c.test(on(deviceFacts), false)).toBe(want);
    if (code) expect(c.explain(on(deviceFacts), want as 'fail').code).toBe(code);
  });

  it('says what the app needs and what the device reported', () => {
    const r = criterion({ device: { managed: true, disk_encrypted: true } }).explain(on(posture({ disk_encrypted: false })), 'fail');
    expect(r.message).toBe('This app needs a device that is managed by your organization and has disk encryption on; your device reported disk encryption off.');
  });

  it('passes the verification failure on to the person', () => {
    expect(criterion({ device: { managed: true } }).explain(on({ ok: false, reason: 'signature expired' }), 'unknown').message).toContain('signature expired');
  });

  it('compares versions numerically', () => {
    expect(compareVersions('14.10', '14.4')).toBe(1);
    expect(compareVersions('14.4', '14.4.0')).toBe(0);
    expect(compareVersions('10.0.19045', '10.0.22631')).toBe(-1);
  });

  it('rejects unquoted versions and empty requirements', () => {
    expect(() => compileStandalonePolicy({ allow: [{ device: { os_min: { macos: 14.1 } } }] })).toThrow(/device\.os_min\.macos: "14\.1" is not a dotted numeric version; quote it/);
    expect(() => compileStandalonePolicy({ allow: [{ device: {} }] })).toThrow(/at least one device requirement/);
    expect(() => compileStandalonePolicy({ allow: [{ device: { managed: false } }] })).toThrow(/managed can only be true/);
  });

  it('no posture never passes even with every claim in the rule', () => {
    expect(outcome({ device: { managed: true, compliant: true, max_risk: 'high' } }, on(null))).toBe('unknown');
  });
});
