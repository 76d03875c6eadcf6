// Pure: is a verified posture token still usable at `nowMs`? The same rules jose
// applies on first verification, repeated for results served from the cache, so a
// cached verdict can never outlive the token's exp or the configured max_age.
import { postureFailure, type PostureFailure } from './facts.ts';

/** Seconds of clock difference tolerated between the device-trust service and Portcullis. */
export const CLOCK_TOLERANCE_S = 30;

/** NumericDate claims of a verified token, in seconds since the epoch. */
export interface TokenTimes {
  readonly iat: number;
  readonly exp: number;
  readonly nbf?: number;
}

export function checkFreshness(t: TokenTimes, nowMs: number, maxAgeMs: number): PostureFailure | undefined {
  const now = Math.floor(nowMs / 1000);
  if (t.nbf !== undefined && t.nbf > now + CLOCK_TOLERANCE_S) return notYetValid();
  if (t.exp <= now - CLOCK_TOLERANCE_S) return expired();
  const age = now - t.iat;
  if (age - CLOCK_TOLERANCE_S > maxAgeMs / 1000) return stale(maxAgeMs);
  if (age < -CLOCK_TOLERANCE_S) return issuedInFuture();
  return undefined;
}

export const notYetValid = () => postureFailure('posture-invalid', 'device posture is not valid yet (nbf is in the future); check the clock of the device-trust service');
export const expired = () => postureFailure('posture-expired', 'device posture has expired; the device must fetch a new assertion');
export const stale = (maxAgeMs: number) =>
  postureFailure('posture-stale', `device posture is older than max_age (${Math.round(maxAgeMs / 1000)} s); the device must fetch a new assertion`);
export const issuedInFuture = () => postureFailure('posture-invalid', 'device posture was issued in the future (iat); check the clock of the device-trust service');
