// Pure: does this request's device match the device its session is bound to?
//
// A session cookie copied to another machine arrives with that machine's posture.
// When both the session and the posture name a device and they differ, the
// request is refused: that is the whole point of binding.
//
// The other cases, deliberately:
// - the session has no device yet (created without posture, or before binding was
//   enabled): bind on first sight. The answer says which device to store, and the
//   caller saves it in the session; from then on only that device may use it.
// - the request has no valid posture (missing, stale, keys unavailable...), or
//   posture without a device_id: binding cannot be checked and does not refuse by
//   itself. Whether posture is required at all is the route policy's decision, which
//   sees the same DeviceFacts with their reason.
import type { DeviceFacts } from './facts.ts';

export type BindingResult =
  | { readonly ok: true; readonly bindDeviceId?: string }
  | { readonly ok: false; readonly reason: string; readonly code: 'device-mismatch' };

export function checkDeviceBinding(sessionDeviceId: string | undefined, facts: DeviceFacts): BindingResult {
  if (!facts.ok || facts.claims.device_id === undefined) return { ok: true };
  const deviceId = facts.claims.device_id;
  if (sessionDeviceId === undefined) return { ok: true, bindDeviceId: deviceId };
  if (sessionDeviceId !== deviceId) {
    return { ok: false, code: 'device-mismatch', reason: 'this session was signed in on another device; sign in again on this device' };
  }
  return { ok: true };
}
