// The identity provider, as Portcullis talks to it (openid-client v6).
// Discovery runs at start-up and retries with backoff until it succeeds, so
// Portcullis starts even while the provider is down: /readyz says not ready and
// sign-in attempts get a clear 503 instead of a crash or a hang.
import { readFileSync } from 'node:fs';
import { createPrivateKey } from 'node:crypto';
import * as client from 'openid-client';
import { createRemoteJWKSet, importPKCS8, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { Logger } from '../log.ts';

export interface IdpSettings {
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string | undefined;
  readonly clientAuth: 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';
  readonly privateKeyPem: string | undefined;
  readonly privateKeyId: string | undefined;
  readonly scopes: readonly string[];
  readonly timeoutMs: number;
  readonly refreshGraceMs: number;
  readonly insecureAllowHttp: boolean;
  readonly redirectUri: string;
  /** acr_values that ask the provider for multi-factor sign-in */
  readonly mfaAcrValues: readonly string[];
}

export type IdpStatus = { ready: true } | { ready: false; error: string; since: number };

const REFRESH_BACKOFF_MS = 5_000;

export class IdentityProviderUnavailable extends Error {
  readonly code = 'idp_unavailable';
}

/** The provider refused a grant (user disabled, grant revoked): the session must end. */
export function isGrantRejected(err: unknown): boolean {
  return err instanceof client.ResponseBodyError && (err.error === 'invalid_grant' || err.error === 'unauthorized_client' || err.error === 'invalid_client');
}

export class OidcClient {
  readonly settings: IdpSettings;
  readonly #logger: Logger;
  #config: client.Configuration | undefined;
  #jwks: JWTVerifyGetKey | undefined;
  #status: IdpStatus = { ready: false, error: 'discovery has not run yet', since: Date.now() };
  #retry: NodeJS.Timeout | undefined;
  #stopped = false;
  #discovering: Promise<void> | undefined;
  #attempt = 0;
  #lastAttemptAt = 0;
  #refreshBackoffUntil = 0;

  constructor(settings: IdpSettings, logger: Logger) {
    this.settings = settings;
    this.#logger = logger;
  }

  status(): IdpStatus {
    return this.#status;
  }

  /** Start discovery in the background; resolves after the first attempt, whatever its outcome. */
  start(): Promise<void> {
    return this.#discover(0);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#retry);
  }

  #discover(attempt: number): Promise<void> {
    this.#discovering ??= (async () => {
      const s = this.settings;
      this.#attempt = attempt;
      this.#lastAttemptAt = Date.now();
      try {
        const config = await client.discovery(new URL(s.issuer), s.clientId, { client_secret: s.clientSecret }, await this.#clientAuth(), {
          timeout: Math.ceil(s.timeoutMs / 1000),
          execute: s.insecureAllowHttp ? [client.allowInsecureRequests] : [],
        });
        this.#config = config;
        const jwksUri = config.serverMetadata().jwks_uri;
        this.#jwks = jwksUri ? createRemoteJWKSet(new URL(jwksUri), { timeoutDuration: s.timeoutMs }) : undefined;
        this.#status = { ready: true };
        this.#logger.info({ type: 'idp', issuer: s.issuer }, 'identity provider discovered');
      } catch (err) {
        const error = describe(err);
        if (this.#status.ready || attempt === 0 || attempt % 10 === 0) {
          this.#logger.error({ type: 'idp', issuer: s.issuer, error, attempt }, 'identity provider discovery failed; retrying');
        }
        this.#status = { ready: false, error, since: this.#status.ready ? Date.now() : this.#status.since };
        if (!this.#stopped) {
          const delay = Math.min(30_000, 500 * 2 ** Math.min(attempt, 6));
          this.#retry = setTimeout(() => void this.#discover(attempt + 1), delay);
          this.#retry.unref();
        }
      } finally {
        this.#discovering = undefined;
      }
    })();
    return this.#discovering;
  }

  async #clientAuth(): Promise<client.ClientAuth> {
    const s = this.settings;
    switch (s.clientAuth) {
      case 'client_secret_post':
        return client.ClientSecretPost(s.clientSecret);
      case 'private_key_jwt': {
        const pem = s.privateKeyPem!;
        const key = await importPKCS8(createPrivateKey(pem).export({ type: 'pkcs8', format: 'pem' }) as string, signingAlgorithm(pem));
        return client.PrivateKeyJwt({ key, kid: s.privateKeyId });
      }
      default:
        return client.ClientSecretBasic(s.clientSecret);
    }
  }

  /**
   * Someone is trying to sign in while the provider is unknown: try discovery now instead of
   * at the next backoff step (up to 30 s away), at most once a second, so recovery is prompt.
   */
  #discoverNow(): void {
    if (this.#stopped || this.#discovering || Date.now() - this.#lastAttemptAt < 1000) return;
    clearTimeout(this.#retry);
    void this.#discover(this.#attempt + 1);
  }

  /** The discovered configuration, or a typed error the caller turns into a 503 page. */
  configuration(): client.Configuration {
    if (!this.#config) {
      this.#discoverNow();
      throw new IdentityProviderUnavailable(this.#status.ready ? 'not configured' : this.#status.error);
    }
    return this.#config;
  }

  authorizationUrl(params: Record<string, string>): URL {
    return client.buildAuthorizationUrl(this.configuration(), { redirect_uri: this.settings.redirectUri, scope: this.settings.scopes.join(' '), response_type: 'code', ...params });
  }

  exchangeCode(currentUrl: URL, checks: { state: string; nonce: string; verifier: string; maxAge?: number }) {
    return client.authorizationCodeGrant(this.configuration(), currentUrl, {
      expectedState: checks.state,
      expectedNonce: checks.nonce,
      pkceCodeVerifier: checks.verifier,
      idTokenExpected: true,
      maxAge: checks.maxAge,
    });
  }

  /**
   * After a refresh could not reach the provider, refreshes fail fast for a few seconds: during
   * an outage (a provider that hangs rather than refuses) every request would otherwise wait
   * for the full timeout before the refresh_grace rule lets it through.
   */
  async refresh(refreshToken: string) {
    if (Date.now() < this.#refreshBackoffUntil) throw new IdentityProviderUnavailable('the identity provider was unreachable moments ago; refresh not retried yet');
    try {
      return await client.refreshTokenGrant(this.configuration(), refreshToken);
    } catch (err) {
      if (isTransportError(err) && !(err instanceof IdentityProviderUnavailable)) this.#refreshBackoffUntil = Date.now() + REFRESH_BACKOFF_MS;
      throw err;
    }
  }

  userinfo(accessToken: string, sub: string) {
    return client.fetchUserInfo(this.configuration(), accessToken, sub);
  }

  endSessionUrl(params: Record<string, string>): URL | undefined {
    const config = this.#config;
    if (!config?.serverMetadata().end_session_endpoint) return undefined;
    return client.buildEndSessionUrl(config, params);
  }

  /**
   * Verify a back-channel logout token as OpenID Connect Back-Channel Logout 1.0 section 2.6 requires:
   * signature by the provider's keys, iss, aud, iat, the logout event, no nonce, and sid and/or sub.
   */
  async verifyLogoutToken(token: string): Promise<{ sub?: string; sid?: string; jti: string }> {
    const config = this.configuration();
    if (!this.#jwks) throw new Error('the identity provider publishes no jwks_uri');
    const { payload } = await jwtVerify(token, this.#jwks, {
      issuer: config.serverMetadata().issuer,
      audience: this.settings.clientId,
      requiredClaims: ['iat'],
      maxTokenAge: '5m',
      clockTolerance: 30,
      algorithms: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'],
      typ: undefined,
    });
    return checkLogoutClaims(payload);
  }
}

const BACKCHANNEL_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

export function checkLogoutClaims(payload: JWTPayload): { sub?: string; sid?: string; jti: string } {
  const events = payload.events as Record<string, unknown> | undefined;
  const event = events && typeof events === 'object' ? events[BACKCHANNEL_EVENT] : undefined;
  // The event's value must be a JSON object (usually {}); null is typeof 'object' too.
  if (event === null || typeof event !== 'object' || Array.isArray(event)) throw new Error('logout token has no back-channel logout event');
  if ('nonce' in payload) throw new Error('logout token must not contain a nonce');
  // jti is REQUIRED (section 2.4): without it a captured token could be replayed unnoticed.
  if (typeof payload.jti !== 'string' || payload.jti === '') throw new Error('logout token has no jti');
  const sub = typeof payload.sub === 'string' ? payload.sub : undefined;
  const sid = typeof payload.sid === 'string' ? payload.sid : undefined;
  if (!sub && !sid) throw new Error('logout token names neither sub nor sid');
  return { sub, sid, jti: payload.jti };
}

/**
 * Trouble reaching the provider (refused, reset, timed out, or its own 5xx), as opposed to
 * an answer that failed one of our checks: only the first is "try again later".
 */
export function isTransportError(err: unknown): boolean {
  if (err instanceof IdentityProviderUnavailable) return true;
  if (err instanceof client.ResponseBodyError) return err.status >= 500;
  const e = err as { name?: string; cause?: { code?: unknown } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return true;
  // fetch() failures are a TypeError whose cause carries a socket error code such as ECONNREFUSED.
  return e?.name === 'TypeError' && typeof e.cause?.code === 'string';
}

export function describe(err: unknown): string {
  if (err instanceof client.ResponseBodyError) return `${err.error}${err.error_description ? `: ${err.error_description}` : ''}`;
  const e = err as Error & { cause?: unknown };
  // openid-client wraps the specific check that failed ('unexpected "iss" ...'); show both.
  const cause = e?.cause instanceof Error ? (e.cause as Error & { code?: unknown }) : undefined;
  if (cause) return `${e.message}: ${cause.message}${typeof cause.code === 'string' ? ` (${cause.code})` : ''}`;
  return e?.message ?? String(err);
}

/** The JWS algorithm for a PEM private key: ES256/384/512 by curve, RS256 for RSA, EdDSA for Ed25519. */
export function signingAlgorithm(pem: string): string {
  const key = createPrivateKey(pem);
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      return curve === 'secp384r1' ? 'ES384' : curve === 'secp521r1' ? 'ES512' : 'ES256';
    }
    case 'rsa':
      return 'RS256';
    case 'ed25519':
      return 'EdDSA';
    default:
      throw new Error(`unsupported key type ${key.asymmetricKeyType}; use an EC P-256, RSA or Ed25519 key`);
  }
}

export function readPrivateKeyPem(file: string): string {
  return readFileSync(file, 'utf8');
}
