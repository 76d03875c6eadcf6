// The signed identity assertion upstream apps can verify against Portcullis's JWKS.
// Signing costs tens of microseconds, so one assertion is reused for the same session
// and route until it nears expiry instead of being signed on every request.
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { SignJWT, calculateJwkThumbprint, exportJWK, type JWK } from 'jose';
import { signingAlgorithm } from '../auth/oidc.ts';

interface Signed {
  readonly jwt: string;
  readonly renewAt: number;
  /** set by forget(): never handed out again */
  forgotten: boolean;
}

interface SigningKey {
  readonly kid: string;
  readonly alg: string;
  readonly privateKey: KeyObject;
  readonly publicJwk: JWK;
}

export interface AssertionClaims {
  readonly sub: string;
  readonly email?: string;
  readonly groups: readonly string[];
  readonly sid?: string;
}

export class AssertionSigner {
  readonly #keys: readonly SigningKey[];
  readonly #issuer: string;
  readonly #lifetimeS: number;
  readonly #cache = new Map<string, Signed>();
  /**
   * The last assertion handed out for a session object, found without building and hashing
   * the cache key. The session cache hands out the same object for a second at a time.
   */
  readonly #lastFor = new WeakMap<AssertionClaims, { audience: string; signed: Signed }>();
  readonly #pending = new Map<string, Promise<string>>();
  /** the JWKS document, serialized once */
  readonly jwksJson: string;
  readonly ephemeral: boolean;

  private constructor(keys: SigningKey[], issuer: string, lifetimeMs: number, ephemeral: boolean) {
    this.#keys = keys;
    this.#issuer = issuer;
    this.#lifetimeS = Math.max(10, Math.min(300, Math.floor(lifetimeMs / 1000)));
    this.jwksJson = JSON.stringify({ keys: keys.map((k) => k.publicJwk) });
    this.ephemeral = ephemeral;
  }

  /** From PEM private keys (first signs, all published), or one generated key when none are configured. */
  static async create(pems: readonly string[], issuer: string, lifetimeMs: number): Promise<AssertionSigner> {
    const ephemeral = pems.length === 0;
    const sources: KeyObject[] = ephemeral ? [generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey] : pems.map((pem) => createPrivateKey(pem));
    const keys: SigningKey[] = [];
    for (const privateKey of sources) {
      const alg = signingAlgorithm(privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
      const jwk = await exportJWK(createPublicKey(privateKey));
      const kid = await calculateJwkThumbprint(jwk);
      keys.push({ kid, alg, privateKey, publicJwk: { ...jwk, kid, alg, use: 'sig' } });
    }
    return new AssertionSigner(keys, issuer, lifetimeMs, ephemeral);
  }

  /**
   * A valid assertion for this session and audience: cached when it still has more than
   * a fifth of its lifetime left, freshly signed otherwise.
   */
  assertion(sessionId: string, audience: string, claims: AssertionClaims, nowMs = Date.now()): string | Promise<string> {
    const last = this.#lastFor.get(claims);
    if (last !== undefined && last.audience === audience && last.signed.renewAt > nowMs && !last.signed.forgotten) return last.signed.jwt;
    const key = sessionId + '\0' + audience;
    const hit = this.#cache.get(key);
    if (hit && hit.renewAt > nowMs) {
      this.#lastFor.set(claims, { audience, signed: hit });
      return hit.jwt;
    }
    const pending = this.#pending.get(key);
    if (pending) return pending;
    const p = this.#sign(audience, claims, nowMs).then(
      (jwt) => {
        if (this.#cache.size >= 100_000) this.#cache.delete(this.#cache.keys().next().value!);
        this.#cache.set(key, { jwt, renewAt: nowMs + (this.#lifetimeS * 1000 * 4) / 5, forgotten: false });
        this.#pending.delete(key);
        return jwt;
      },
      (err: unknown) => {
        this.#pending.delete(key);
        throw err;
      },
    );
    this.#pending.set(key, p);
    return p;
  }

  /** Forget cached assertions of a session (after sign-out or a refresh changed its claims). */
  forget(sessionId: string): void {
    for (const [key, signed] of this.#cache) {
      if (!key.startsWith(sessionId + '\0')) continue;
      signed.forgotten = true; // and so out of #lastFor too
      this.#cache.delete(key);
    }
  }

  #sign(audience: string, c: AssertionClaims, nowMs: number): Promise<string> {
    const k = this.#keys[0]!;
    const iat = Math.floor(nowMs / 1000);
    const payload: Record<string, unknown> = { groups: c.groups };
    if (c.email !== undefined) payload.email = c.email;
    if (c.sid !== undefined) payload.sid = c.sid;
    return new SignJWT(payload)
      .setProtectedHeader({ alg: k.alg, kid: k.kid, typ: 'JWT' })
      .setIssuer(this.#issuer)
      .setAudience(audience)
      .setSubject(c.sub)
      .setIssuedAt(iat)
      .setNotBefore(iat - 5)
      .setExpirationTime(iat + this.#lifetimeS)
      .setJti(randomUUID())
      .sign(k.privateKey);
  }
}
