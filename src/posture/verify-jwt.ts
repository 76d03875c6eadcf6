// One operation: verify a posture JWT's signature and registered claims with jose,
// and turn every way it can fail into a PostureFailure with a reason an admin can
// act on. Reasons never quote the token or anything taken from it.
import { decodeProtectedHeader, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey, type JWTVerifyOptions } from 'jose';
import { postureFailure, type PostureFailure } from './facts.ts';
import { CLOCK_TOLERANCE_S, expired, issuedInFuture, notYetValid, stale, type TokenTimes } from './freshness.ts';
import { PostureKeysUnavailable } from './keys.ts';
import type { PostureAlgorithm } from './config.ts';

/** Larger tokens are refused before any parsing: posture is a few hundred bytes. */
export const MAX_TOKEN_BYTES = 8 * 1024;

/**
 * Header parameters that point at keys the token chooses itself. jose would ignore
 * them, but a token carrying them is an attack or a misconfigured service, so it is
 * refused loudly rather than verified against the configured keys.
 */
const FORBIDDEN_HEADER_PARAMETERS = ['jku', 'x5u', 'jwk'] as const;

export interface JwtCheck {
  readonly getKey: JWTVerifyGetKey;
  readonly issuer: string;
  readonly audience: string;
  readonly algorithms: readonly PostureAlgorithm[];
  readonly maxAgeMs: number;
}

export type JwtResult =
  | { readonly ok: true; readonly payload: JWTPayload; readonly times: TokenTimes }
  | PostureFailure;

const invalid = (why: string) => postureFailure('posture-invalid', `device posture ${why}`);

export async function verifyPostureJwt(token: string, check: JwtCheck, nowMs: number): Promise<JwtResult> {
  if (token.length > MAX_TOKEN_BYTES) return invalid(`is larger than ${MAX_TOKEN_BYTES / 1024} KiB and was not read`);
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    return invalid('is not a well-formed JWT');
  }
  for (const name of FORBIDDEN_HEADER_PARAMETERS) {
    if (Object.hasOwn(header, name)) return invalid(`names its own key ("${name}" header); only keys configured in Portcullis are trusted`);
  }
  const options: JWTVerifyOptions = {
    algorithms: [...check.algorithms],
    issuer: check.issuer,
    audience: check.audience,
    requiredClaims: ['exp', 'iat'],
    maxTokenAge: check.maxAgeMs / 1000,
    clockTolerance: CLOCK_TOLERANCE_S,
    currentDate: new Date(nowMs),
  };
  try {
    const payload = await verifyWithAnyCandidate(token, check.getKey, options);
    // jose checked that exp and iat are present and numeric.
    const times: TokenTimes = { iat: payload.iat!, exp: payload.exp!, ...(payload.nbf !== undefined ? { nbf: payload.nbf } : {}) };
    return { ok: true, payload, times };
  } catch (err) {
    return classify(err, check.maxAgeMs);
  }
}

/**
 * A token without a kid may match several configured keys of its type; jose then
 * hands back the candidates and each is tried in turn. With a kid, exactly the key
 * with that kid is used, so a kid can never pull in a key from elsewhere.
 */
async function verifyWithAnyCandidate(token: string, getKey: JWTVerifyGetKey, options: JWTVerifyOptions): Promise<JWTPayload> {
  try {
    return (await jwtVerify(token, getKey, options)).payload;
  } catch (err) {
    if (!(err instanceof errors.JWKSMultipleMatchingKeys)) throw err;
    for await (const key of err) {
      try {
        return (await jwtVerify(token, key, options)).payload;
      } catch (inner) {
        if (!(inner instanceof errors.JWSSignatureVerificationFailed)) throw inner;
      }
    }
    throw new errors.JWSSignatureVerificationFailed();
  }
}

function classify(err: unknown, maxAgeMs: number): PostureFailure {
  if (err instanceof PostureKeysUnavailable) return postureFailure('posture-keys-unavailable', err.message);
  if (err instanceof errors.JWTExpired) return err.claim === 'iat' ? stale(maxAgeMs) : expired();
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.reason === 'missing') return invalid(`has no "${err.claim}" claim; the device-trust service must include it`);
    switch (err.claim) {
      case 'nbf':
        return notYetValid();
      case 'iat':
        return err.reason === 'check_failed' ? issuedInFuture() : invalid('has an "iat" that is not a number');
      case 'iss':
        return invalid('was issued by another issuer than the configured device_posture.issuer');
      case 'aud':
        return invalid('is meant for another audience than the configured device_posture.audience');
      default:
        return invalid(`has an invalid "${err.claim}" claim`);
    }
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return invalid('is signed with an algorithm that device_posture.algorithms does not allow');
  if (err instanceof errors.JWSSignatureVerificationFailed) return invalid('has a signature that does not verify with the configured keys');
  if (err instanceof errors.JWKSNoMatchingKey) {
    return invalid('is signed with a key that is not among the configured keys');
  }
  if (err instanceof errors.JOSENotSupported) return invalid('uses an unsupported algorithm or header');
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return invalid('is not a well-formed signed JWT');
  return invalid('could not be verified');
}
