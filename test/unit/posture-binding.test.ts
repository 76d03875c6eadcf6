import { describe, expect, it } from 'vitest';
import { checkDeviceBinding } from '../../src/posture/binding.ts';
import type { DeviceFacts } from '../../src/posture/facts.ts';

const posture = (device_id?: string): DeviceFacts => ({ ok: true, source: 'jwt', claims: device_id === undefined ? { managed: true } : { device_id, managed: true } });

describe('session device binding', () => {
  it('a session created on device A is refused when it arrives with valid posture for device B', () => {
    const r = checkDeviceBinding('device-A', posture('device-B'));
    expect(r).toMatchObject({ ok: false, code: 'device-mismatch' });
    if (!r.ok) expect(r.reason).toMatch(/another device/);
  });

  it('the same device passes', () => {
    expect(checkDeviceBinding('device-A', posture('device-A'))).toEqual({ ok: true });
  });

  it('a session without a device is bound to the first device seen with valid posture', () => {
    expect(checkDeviceBinding(undefined, posture('device-A'))).toEqual({ ok: true, bindDeviceId: 'device-A' });
  });

  it('binding cannot be checked without valid posture or a device id, and does not refuse by itself', () => {
    const missing: DeviceFacts = { ok: false, code: 'posture-missing', reason: 'none' };
    expect(checkDeviceBinding('device-A', missing)).toEqual({ ok: true });
    expect(checkDeviceBinding('device-A', { ok: false, code: 'posture-stale', reason: 'old' })).toEqual({ ok: true });
    expect(checkDeviceBinding('device-A', posture(undefined))).toEqual({ ok: true });
    expect(checkDeviceBinding(undefined, missing)).toEqual({ ok: true });
  });

  it('trusted-header posture binds the same way as signed posture', () => {
    expect(checkDeviceBinding('device-A', { ok: true, source: 'headers', claims: { device_id: 'device-B' } })).toMatchObject({ ok: false });
  });
});
