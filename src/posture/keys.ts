// Where posture signing keys come from: static files read once at load, or the
// device-trust service's JWKS over HTTPS. Both end up as a jose key resolver that
// picks a key by the token's alg and kid from the configured set only; nothing in
// the token (jku, x5u, x5c, jwk) can add a key.
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors,
  type JWK,
  type JWTVerifyGetKey,
} from 'jose';

/** The JWKS could not be fetched or was not a usable key set: posture cannot be checked. */
export class PostureKeysUnavailable extends Error {
  constructor(detail: string, options?: ErrorOptions) {
    super(`device posture keys unreachable: ${detail}`, options);
    this.name = 'PostureKeysUnavailable';
  }
}

const PUBLIC_MEMBERS: Record<string, readonly string[]> = {
  RSA: ['e', 'kty', 'n'],
  EC: ['crv', 'kty', 'x', 'y'],
  OKP: ['crv', 'kty', 'x'],
};

/** RFC 7638 thumbprint: the kid of a key that came without one (a PEM file). */
export function jwkThumbprint(jwk: JWK): string {
  const members = PUBLIC_MEMBERS[jwk.kty ?? ''] ?? [];
  const canonical = JSON.stringify(Object.fromEntries(members.map((m) => [m, (jwk as Record<string, unknown>)[m]])));
  return createHash('sha256').update(canonical).digest('base64url');
}

function publicJwk(key: KeyObject, from: Readonly<Record<string, unknown>> = {}): JWK {
  if (key.asymmetricKeyType !== 'rsa' && key.asymmetricKeyType !== 'ec' && key.asymmetricKeyType !== 'ed25519') {
    throw new Error(`holds a ${key.asymmetricKeyType ?? 'symmetric'} key; device posture keys must be RSA, EC (P-256, P-384, P-521) or Ed25519`);
  }
  const jwk = key.export({ format: 'jwk' }) as JWK;
  const out: JWK = { ...jwk };
  // Keep only the members that narrow how the key is used; never widen.
  if (typeof from.alg === 'string') out.alg = from.alg;
  if (typeof from.use === 'string') out.use = from.use;
  out.kid = typeof from.kid === 'string' && from.kid !== '' ? from.kid : jwkThumbprint(out);
  return out;
}

function jwkFromJson(value: unknown): JWK {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('holds a JSON value that is not a JWK');
  const jwk = value as Record<string, unknown>;
  if (jwk.kty === 'oct') throw new Error('holds a shared secret (kty "oct"); device posture is verified with the service\'s public key only');
  if ('d' in jwk) throw new Error('holds a private key; give Portcullis only the public part (remove "d", "p", "q", "dp", "dq", "qi")');
  let key: KeyObject;
  try {
    key = createPublicKey({ key: jwk as never, format: 'jwk' });
  } catch (err) {
    throw new Error(`holds a JWK that cannot be imported (${(err as Error).message})`);
  }
  return publicJwk(key, jwk);
}

/**
 * The public keys in one key file: a PEM public key (SPKI, "BEGIN PUBLIC KEY"), a JWK,
 * or a JWKS ({"keys": [...]}). Throws an Error whose message completes "<file> ...".
 */
export function parseKeyFile(text: string): JWK[] {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    let json: unknown;
    try {
      json = JSON.parse(trimmed);
    } catch {
      throw new Error('is neither a PEM public key nor valid JSON');
    }
    const keys = (json as { keys?: unknown }).keys;
    if (Array.isArray(keys)) {
      if (keys.length === 0) throw new Error('holds an empty JWKS');
      return keys.map(jwkFromJson);
    }
    return [jwkFromJson(json)];
  }
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(trimmed)) {
    throw new Error('holds a private key; give Portcullis only the public key (openssl pkey -in key.pem -pubout)');
  }
  if (trimmed.includes('-----BEGIN CERTIFICATE-----')) {
    throw new Error('holds a certificate; extract its public key (openssl x509 -in cert.pem -pubkey -noout)');
  }
  if (!trimmed.includes('-----BEGIN PUBLIC KEY-----')) throw new Error('is neither a PEM public key ("BEGIN PUBLIC KEY") nor a JWK JSON file');
  let key: KeyObject;
  try {
    key = createPublicKey(trimmed);
  } catch (err) {
    throw new Error(`holds a PEM public key that cannot be read (${(err as Error).message})`);
  }
  return [publicJwk(key)];
}

/** Resolver over keys read at load. */
export function staticKeyResolver(keys: readonly JWK[]): JWTVerifyGetKey {
  return createLocalJWKSet({ keys: [...keys] });
}

export interface RemoteKeyOptions {
  readonly timeoutMs: number;
  readonly cooldownMs: number;
}

/**
 * Resolver over a remote JWKS. jose caches the set for 10 minutes and refetches
 * earlier only for a kid it does not know, and then at most once per cooldown (30 s by
 * default): a freshly rotated key may be refused for up to that long.
 *
 * Every failure to obtain keys (connection refused, timeout, non-200, not JSON, not
 * a JWKS) becomes PostureKeysUnavailable, so it can never be mistaken for a verdict
 * on the token, and never for a pass.
 */
export function remoteKeyResolver(url: URL, { timeoutMs, cooldownMs }: RemoteKeyOptions): JWTVerifyGetKey {
  const remote = createRemoteJWKSet(url, { timeoutDuration: Math.max(1, Math.round(timeoutMs)), cooldownDuration: cooldownMs });
  return async (header, token) => {
    try {
      return await remote(header, token);
    } catch (err) {
      // Verdicts on the token itself: the set was fetched, the token's key is not in it
      // (or several are, which jose resolves by trying each).
      if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys || err instanceof errors.JOSENotSupported) throw err;
      throw new PostureKeysUnavailable(describeFetchError(err), { cause: err });
    }
  };
}

function describeFetchError(err: unknown): string {
  if (err instanceof errors.JWKSTimeout) return 'the JWKS did not answer in time (jwks_timeout)';
  if (err instanceof errors.JWKSInvalid) return 'the JWKS response is not a JSON Web Key Set';
  if (err instanceof errors.JOSEError) return err.message;
  const cause = (err as { cause?: { code?: string } }).cause;
  return cause?.code ? `cannot connect (${cause.code})` : 'cannot fetch the JWKS';
}
