// Sign-in, sessions on the request path, and Portcullis's own /.portcullis/ endpoints.
// The flow: a protected URL without a session -> /.portcullis/start on public_url ->
// the identity provider -> /.portcullis/callback -> a new session -> back to the URL
// (through a one-time hand-off when the host shares no cookie domain with public_url).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import * as client from 'openid-client';
import type { CompiledAuth, CompiledConfig } from '../config/compile.ts';
import type { Logger } from '../log.ts';
import { html } from '../pages/html.ts';
import { messagePage, logoutConfirmPage, signedOutPage, userinfoPage } from '../pages/auth-pages.ts';
import { wantsHtml } from '../pages/respond.ts';
import { pageSecurityHeaders } from '../pages/style.ts';
import { servesHost } from '../request/route-match.ts';
import { AssertionSigner } from '../identity/assertion.ts';
import { OidcClient, IdentityProviderUnavailable, isGrantRejected, isTransportError, describe } from './oidc.ts';
import { Sealer } from './sealed.ts';
import { cookieNames, cookiesWithPrefix, readCookies, serializeCookie, clearCookie, upstreamCookieFilter, type CookieNames } from './cookies.ts';
import { safeReturnUrl } from './return-to.ts';
import { sessionFromClaims, type SessionData, type Sessions } from './session-data.ts';
import { isPromise, type MaybePromise } from '../maybe-promise.ts';
import { canFollowLoginRedirect, readSmallBody, redirect, sendHtml, sendJson } from './http-util.ts';

const LOGIN_STATE_TTL_MS = 10 * 60_000;
const HANDOFF_TTL_MS = 60_000;
const MAX_TICKETS_TRIED = 3;
// Sign-ins started and never finished each leave a login-state cookie for ten minutes. Past
// these limits the older ones are dropped, so they cannot grow the Cookie header until
// public_url answers 431 to everything (a hostile page can start sign-ins in new windows).
const MAX_PENDING_LOGINS = 3;
const MAX_PENDING_LOGIN_BYTES = 4096;

interface LoginState {
  /** hash of the hand-off binding cookie of the browser that started this sign-in (see #handoff) */
  readonly binding?: string;
  readonly state: string;
  readonly nonce: string;
  readonly verifier: string;
  readonly returnTo: string;
  readonly maxAge?: number;
  /** the acr values a step-up asked for; the new session records what the provider actually proved */
  readonly acrValues?: readonly string[];
}

/** What a policy needs from a new sign-in: a stronger acr, a recent authentication, or both. */
export interface StepUp {
  readonly acrValues?: readonly string[];
  /** seconds: the authentication must be at most this old */
  readonly maxAgeS?: number;
}

interface Handoff {
  readonly ticket: string;
  readonly host: string;
  readonly url: string;
  readonly jti: string;
  readonly binding?: string;
}

export type AuthResult =
  | { readonly kind: 'ok'; readonly id: string; readonly ticket: string; readonly session: SessionData }
  | { readonly kind: 'login'; readonly reason: string }
  | { readonly kind: 'unavailable'; readonly code: 'session_store_unavailable' | 'idp_unavailable'; readonly reason: string };

type RefreshOutcome = { kind: 'ok'; data: SessionData } | { kind: 'ended'; reason: string } | { kind: 'unreachable'; reason: string } | { kind: 'busy' };

/** Parts that live as long as the process; rebuilt only when their settings change. */
export interface AuthComponents {
  readonly settings: CompiledAuth;
  readonly oidc: OidcClient;
  readonly sealer: Sealer;
  readonly signer: AssertionSigner;
  readonly names: CookieNames;
}

export async function buildAuthComponents(settings: CompiledAuth, publicUrl: URL, logger: Logger, previous: AuthComponents | undefined, fallbackSecret: string): Promise<AuthComponents> {
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  let oidc = previous?.oidc;
  if (!oidc || !same(previous!.settings.idp, settings.idp)) {
    previous?.oidc.stop();
    oidc = new OidcClient(settings.idp, logger);
    void oidc.start();
  }
  const sealer = previous && previous.settings.cookie.secret === settings.cookie.secret ? previous.sealer : new Sealer(settings.cookie.secret ?? fallbackSecret);
  const signer =
    previous && same(previous.settings.signingKeyPems, settings.signingKeyPems) && previous.settings.assertionLifetimeMs === settings.assertionLifetimeMs
      ? previous.signer
      : await AssertionSigner.create(settings.signingKeyPems, publicUrl.origin, settings.assertionLifetimeMs);
  return { settings, oidc, sealer, signer, names: cookieNames(settings.cookie.baseName, settings.cookie.domain, settings.cookie.secure) };
}

export class Auth {
  readonly #c: AuthComponents;
  readonly #config: CompiledConfig;
  readonly #sessions: Sessions;
  readonly #logger: Logger;
  readonly #publicUrl: URL;
  readonly #absoluteMs: number;
  /**
   * Sessions keep the access token only while a route forwards it (pass_access_token): a bearer
   * token nobody uses is a liability in a Redis dump and about a third of a session's bytes.
   */
  readonly #keepsAccessToken: boolean;
  readonly #refreshing = new Map<string, Promise<RefreshOutcome>>();
  readonly #ticketsBySocket = new WeakMap<object, { readonly cookie: string; readonly tickets: readonly string[] }>();
  /** A Cookie header's value as an upstream may see it: never a session ticket, which in a legacy app's logs would be a stolen session. */
  readonly upstreamCookie: (value: string) => string | undefined;

  constructor(components: AuthComponents, config: CompiledConfig, sessions: Sessions, logger: Logger, sessionLifetimeMs: number) {
    this.#c = components;
    this.#config = config;
    this.#sessions = sessions;
    this.#logger = logger;
    this.#publicUrl = config.publicUrl;
    this.#absoluteMs = sessionLifetimeMs;
    this.#keepsAccessToken = config.routes.some((r) => r.passAccessToken);
    this.upstreamCookie = upstreamCookieFilter(components.names);
  }

  get components(): AuthComponents {
    return this.#c;
  }

  get signer(): AssertionSigner {
    return this.#c.signer;
  }

  /**
   * Who is this? Never "allowed because the lookup failed": a store error is "unavailable".
   * Answers at once, without a promise, when the session is in this process's cache and its
   * tokens need no refresh: the case of nearly every request.
   */
  authenticate(req: IncomingMessage): MaybePromise<AuthResult> {
    const tickets = this.#tickets(req);
    if (tickets.length === 0) return { kind: 'login', reason: 'no session cookie' };
    let first: ReturnType<Sessions['load']>;
    try {
      first = this.#sessions.load(tickets[0]!);
    } catch (err) {
      return { kind: 'unavailable', code: 'session_store_unavailable', reason: (err as Error).message };
    }
    if (first !== undefined && !isPromise(first)) {
      const fresh = this.#freshResult(first.id, tickets[0]!, first.data, Date.now());
      if (fresh) return fresh;
    }
    return this.#authenticate(tickets, first);
  }

  /**
   * The session tickets in the request's Cookie header. A keep-alive connection sends the same
   * header request after request: its last one is remembered with what it held, so the next
   * identical header is not parsed again, and the ticket string it hands back, whose hash V8
   * has kept, finds the session cache's entry without being hashed anew.
   */
  #tickets(req: IncomingMessage): readonly string[] {
    const cookie = req.headers.cookie;
    if (cookie === undefined) return [];
    const last = this.#ticketsBySocket.get(req.socket);
    if (last !== undefined && last.cookie === cookie) return last.tickets;
    const tickets = readCookies(cookie, this.#c.names.session);
    this.#ticketsBySocket.set(req.socket, { cookie, tickets });
    return tickets;
  }

  async #authenticate(tickets: readonly string[], first: ReturnType<Sessions['load']>): Promise<AuthResult> {
    let found: { id: string; data: SessionData; ticket: string } | undefined;
    try {
      for (let i = 0; i < Math.min(tickets.length, MAX_TICKETS_TRIED); i++) {
        const loaded = await (i === 0 ? first : this.#sessions.load(tickets[i]!));
        if (loaded) {
          found = { ...loaded, ticket: tickets[i]! };
          break;
        }
      }
    } catch (err) {
      return { kind: 'unavailable', code: 'session_store_unavailable', reason: (err as Error).message };
    }
    if (!found) return { kind: 'login', reason: 'session unknown, expired or revoked' };
    return this.#checkFreshness(found.id, found.ticket, found.data);
  }

  /** The session as it is, when its tokens are not yet due for a refresh. */
  #freshResult(id: string, ticket: string, data: SessionData, now: number): AuthResult | undefined {
    const refreshAhead = Math.min(60_000, Math.max(5_000, (data.tokenExpiresAt - (data.refreshedAt ?? data.createdAt)) / 5));
    return now < data.tokenExpiresAt - refreshAhead ? { kind: 'ok', id, ticket, session: data } : undefined;
  }

  async #checkFreshness(id: string, ticket: string, data: SessionData): Promise<AuthResult> {
    const now = Date.now();
    const fresh = this.#freshResult(id, ticket, data, now);
    if (fresh) return fresh;
    if (!data.refreshToken) {
      if (now < data.tokenExpiresAt) return { kind: 'ok', id, ticket, session: data };
      await this.#sessions.revoke(ticket).catch(() => {});
      return { kind: 'login', reason: 'tokens expired and there is no refresh token' };
    }
    const refresh = this.#refresh(id, ticket, data);
    if (now < data.tokenExpiresAt) {
      // Still valid: refresh in the background and let this request through.
      refresh.catch(() => {});
      return { kind: 'ok', id, ticket, session: data };
    }
    const outcome = await refresh;
    switch (outcome.kind) {
      case 'ok':
        return { kind: 'ok', id, ticket, session: outcome.data };
      case 'ended':
        return { kind: 'login', reason: outcome.reason };
      default:
        // The provider is merely unreachable (or another instance holds the refresh lock):
        // keep the session for the configured grace period, then refuse.
        if (now < data.tokenExpiresAt + this.#c.settings.idp.refreshGraceMs) return { kind: 'ok', id, ticket, session: data };
        return { kind: 'unavailable', code: 'idp_unavailable', reason: outcome.kind === 'busy' ? 'token refresh in progress elsewhere' : outcome.reason };
    }
  }

  #refresh(id: string, ticket: string, data: SessionData): Promise<RefreshOutcome> {
    let p = this.#refreshing.get(id);
    if (!p) {
      p = this.#refreshOnce(id, ticket, data).finally(() => this.#refreshing.delete(id));
      this.#refreshing.set(id, p);
    }
    return p;
  }

  async #refreshOnce(id: string, ticket: string, data: SessionData): Promise<RefreshOutcome> {
    // One refresh per session across every instance: refresh tokens often rotate, and two
    // concurrent refreshes with the same token would make the provider revoke the grant.
    const locked = await this.#sessions.withLock(`refresh:${id}`, this.#c.settings.idp.timeoutMs * 3, async (): Promise<RefreshOutcome> => {
      // Another instance may have refreshed a moment ago: compare with the store, not a cached copy.
      const current = await this.#sessions.load(ticket, { fresh: true });
      if (!current) return { kind: 'ended', reason: 'session ended during refresh' };
      if ((current.data.refreshedAt ?? 0) !== (data.refreshedAt ?? 0)) return { kind: 'ok', data: current.data };
      let tokens: Awaited<ReturnType<OidcClient['refresh']>>;
      try {
        tokens = await this.#c.oidc.refresh(current.data.refreshToken!);
      } catch (err) {
        if (isGrantRejected(err)) {
          await this.#sessions.revoke(ticket);
          this.#c.signer.forget(id);
          this.#logger.info({ type: 'session', event: 'refresh_rejected', session: id.slice(0, 8), sub: data.sub, error: describe(err) }, 'identity provider rejected the refresh; session ended');
          return { kind: 'ended', reason: 'the identity provider rejected the token refresh' };
        }
        this.#logger.warn({ type: 'session', event: 'refresh_failed', session: id.slice(0, 8), error: describe(err) }, 'token refresh failed; identity provider unreachable');
        return { kind: 'unreachable', reason: describe(err) };
      }
      const now = Date.now();
      const claims = tokens.claims();
      if (claims && claims.sub !== current.data.sub) {
        await this.#sessions.revoke(ticket);
        return { kind: 'ended', reason: 'refreshed ID token names another subject' };
      }
      const fresh = claims
        ? sessionFromClaims({ ...claims }, { idToken: tokens.id_token, accessToken: this.#keptAccessToken(tokens.access_token), refreshToken: tokens.refresh_token ?? current.data.refreshToken, expiresInSeconds: tokens.expiresIn() }, this.#claimSettings(), now)
        : undefined;
      const next: SessionData = {
        ...current.data,
        ...(fresh ? { email: fresh.email, emailVerified: fresh.emailVerified, name: fresh.name, groups: fresh.groups, claims: { ...current.data.claims, ...fresh.claims } } : {}),
        idToken: tokens.id_token ?? current.data.idToken,
        accessToken: this.#keptAccessToken(tokens.access_token),
        refreshToken: tokens.refresh_token ?? current.data.refreshToken,
        tokenExpiresAt: tokens.expiresIn() ? now + tokens.expiresIn()! * 1000 : current.data.tokenExpiresAt,
        refreshedAt: now,
      };
      if (!(await this.#sessions.update(ticket, next))) return { kind: 'ended', reason: 'session ended during refresh' };
      this.#c.signer.forget(id);
      this.#logger.info({ type: 'session', event: 'refreshed', session: id.slice(0, 8), sub: next.sub }, 'tokens refreshed');
      return { kind: 'ok', data: next };
    });
    return locked.acquired ? locked.value : { kind: 'busy' };
  }

  #keptAccessToken(token: string | undefined): string | undefined {
    return this.#keepsAccessToken ? token : undefined;
  }

  #claimSettings() {
    return { emailClaim: this.#c.settings.emailClaim, groupsClaim: this.#c.settings.groupsClaim };
  }

  /** Remember the device a session is used from, so a copied cookie cannot travel to another one. */
  async bindDevice(ticket: string, data: SessionData, deviceId: string): Promise<void> {
    await this.#sessions.update(ticket, { ...data, deviceId });
  }

  /** Not signed in: browsers go to sign-in, API clients get 401 with the URL to send a person to. */
  loginUrl(originalUrl: string, stepUp?: StepUp): string {
    const u = new URL('/.portcullis/start', this.#publicUrl);
    u.searchParams.set('rd', originalUrl);
    if (stepUp?.acrValues?.length) u.searchParams.set('acr', stepUp.acrValues.join(' '));
    if (stepUp?.maxAgeS !== undefined) u.searchParams.set('max_age', String(stepUp.maxAgeS));
    return u.toString();
  }

  sendLogin(req: IncomingMessage, res: ServerResponse, originalUrl: string, requestId: string, stepUp?: StepUp): void {
    const loginUrl = this.loginUrl(originalUrl, stepUp);
    if (canFollowLoginRedirect(req)) {
      // Bind the coming hand-off to this browser (see #handoff): a random value in a cookie on
      // this host, its hash in the sign-in URL.
      const binding = randomBytes(32).toString('base64url');
      const u = new URL(loginUrl);
      u.searchParams.set('b', bindingHash(binding));
      const cookie = serializeCookie(this.#bindingCookieName(), binding, { secure: this.#c.settings.cookie.secure, sameSite: 'Lax', maxAgeSeconds: LOGIN_STATE_TTL_MS / 1000 });
      return redirect(res, u.toString(), { 'set-cookie': cookie, 'x-request-id': requestId });
    }
    sendJson(res, 401, { error: 'login_required', status: 401, message: 'Sign-in required', login_url: loginUrl, request_id: requestId }, { 'x-request-id': requestId });
  }

  /**
   * The origin the browser used, port included (the Host header was already checked to name
   * this host); `host` alone would send people back to the default port after sign-in.
   */
  #originOf(req: IncomingMessage, host: string): string {
    return `${this.#c.settings.cookie.secure ? 'https' : 'http'}://${req.headers.host ?? host}`;
  }

  #isServed = (host: string) => host === this.#publicUrl.hostname || servesHost(this.#config.routeTable, host);

  #cookieOptions(host: string) {
    const d = this.#c.settings.cookie.domain;
    const covered = d !== undefined && (host === d || host.endsWith('.' + d));
    return { secure: this.#c.settings.cookie.secure, sameSite: 'Lax' as const, domain: covered ? d : undefined };
  }

  #sessionCookie(ticket: string, host: string): string {
    return serializeCookie(this.#c.names.session, ticket, { ...this.#cookieOptions(host), maxAgeSeconds: this.#absoluteMs / 1000 });
  }

  /** Handle /.portcullis/* and /.well-known/portcullis/*. Returns false for paths it does not know. */
  async handleEndpoint(req: IncomingMessage, res: ServerResponse, host: string, path: string, query: string, requestId: string): Promise<boolean> {
    const params = new URLSearchParams(query.startsWith('?') ? query.slice(1) : query);
    switch (path) {
      case '/.well-known/portcullis/jwks.json':
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'public, max-age=300', 'content-length': Buffer.byteLength(this.#c.signer.jwksJson) });
        res.end(this.#c.signer.jwksJson);
        return true;
      case '/.portcullis/start':
        await this.#start(req, res, host, params, requestId);
        return true;
      case '/.portcullis/callback':
        await this.#callback(req, res, host, query, params, requestId);
        return true;
      case '/.portcullis/handoff':
        await this.#handoff(req, res, host, params, requestId);
        return true;
      case '/.portcullis/logout':
        await this.#logout(req, res, host, requestId);
        return true;
      case '/.portcullis/signed-out':
        sendHtml(res, 200, signedOutPage(this.loginUrl(this.#publicUrl.origin + '/.portcullis/userinfo')));
        return true;
      case '/.portcullis/userinfo':
        await this.#userinfo(req, res, host, path, requestId);
        return true;
      case '/.portcullis/backchannel-logout':
        await this.#backchannelLogout(req, res);
        return true;
      default:
        return false;
    }
  }

  #page(res: ServerResponse, req: IncomingMessage, status: number, code: string, title: string, text: string, requestId: string, retry?: string): void {
    if (!wantsHtml(req)) return sendJson(res, status, { error: code, status, message: title, hint: text, request_id: requestId }, { 'x-request-id': requestId });
    sendHtml(
      res,
      status,
      messagePage({
        status: status >= 500 ? 'warn' : 'bad',
        label: String(status),
        title,
        body: html`<p>${text}</p>`,
        actions: retry ? html`<a class="button" href="${retry}">Try again</a>` : undefined,
        requestId,
      }),
      { 'x-request-id': requestId },
    );
  }

  async #start(req: IncomingMessage, res: ServerResponse, host: string, params: URLSearchParams, requestId: string): Promise<void> {
    const fallback = new URL('/.portcullis/userinfo', this.#publicUrl).toString();
    const returnTo = safeReturnUrl(params.get('rd'), this.#isServed) ?? fallback;
    if (host !== this.#publicUrl.hostname) {
      // Sign-in always starts on public_url, where the callback will read the login cookie.
      // Every parameter travels along (step-up, hand-off binding); rd is checked again there.
      const u = new URL('/.portcullis/start', this.#publicUrl);
      u.search = params.toString();
      u.searchParams.set('rd', returnTo);
      return redirect(res, u.toString());
    }
    const b = params.get('b');
    const binding = b !== null && /^[A-Za-z0-9_-]{43}$/.test(b) ? b : undefined;
    const stepUp = parseStepUp(params);
    // Already signed in here (another host's sign-in made this session): skip the provider,
    // unless a policy asked for a stronger or more recent sign-in.
    if (!stepUp) {
      const existing = await Promise.resolve(this.authenticate(req)).catch(() => undefined);
      if (existing?.kind === 'ok') return this.#sendToReturnUrl(res, existing.ticket, returnTo, [], binding);
    }

    let url: URL;
    const state = client.randomState();
    const nonce = client.randomNonce();
    const verifier = client.randomPKCECodeVerifier();
    const extra: Record<string, string> = {};
    if (stepUp?.acrValues) extra.acr_values = stepUp.acrValues.join(' ');
    if (stepUp?.maxAgeS !== undefined) extra.max_age = String(stepUp.maxAgeS);
    // A step-up must prove itself again at the provider, not ride on its existing session.
    if (stepUp) extra.prompt = 'login';
    try {
      url = this.#c.oidc.authorizationUrl({ state, nonce, code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...extra });
    } catch (err) {
      if (err instanceof IdentityProviderUnavailable) {
        this.#logger.warn({ type: 'login', event: 'idp_unavailable', request_id: requestId, error: err.message }, 'sign-in refused: identity provider unavailable');
        return this.#page(res, req, 503, 'idp_unavailable', 'Sign-in is temporarily unavailable', 'Portcullis cannot reach the identity provider right now. Wait a moment and try again; if it keeps happening, tell your administrator and quote the request id.', requestId, this.loginUrl(returnTo));
      }
      throw err;
    }
    const login: LoginState = { state, nonce, verifier, returnTo, ...(binding ? { binding } : {}), ...(stepUp?.maxAgeS !== undefined ? { maxAge: stepUp.maxAgeS } : {}), ...(stepUp?.acrValues ? { acrValues: stepUp.acrValues } : {}) };
    const sealed = this.#c.sealer.seal('login', login, LOGIN_STATE_TTL_MS);
    // One cookie per login attempt, named after its state, so two tabs signing in at once do not clash.
    const cookie = serializeCookie(this.#loginCookieName(state), sealed, { secure: this.#c.settings.cookie.secure, sameSite: 'Lax', maxAgeSeconds: LOGIN_STATE_TTL_MS / 1000 });
    redirect(res, url.toString(), { 'set-cookie': [...this.#staleLoginCookies(req), cookie], 'x-request-id': requestId });
  }

  /** Set-Cookie lines that clear the pending login-state cookies once there are too many. */
  #staleLoginCookies(req: IncomingMessage): string[] {
    const pending = cookiesWithPrefix(req.headers.cookie, `${this.#c.names.login}-`).filter((c) => c.name !== this.#bindingCookieName());
    const bytes = pending.reduce((n, c) => n + c.name.length + c.value.length + 2, 0);
    if (pending.length < MAX_PENDING_LOGINS && bytes <= MAX_PENDING_LOGIN_BYTES) return [];
    return pending.map((c) => clearCookie(c.name, { secure: this.#c.settings.cookie.secure, sameSite: 'Lax' }));
  }

  /** Named below the login cookies, so the upstream never sees it either (withoutPortcullisCookies). */
  #bindingCookieName(): string {
    return `${this.#c.names.login}-bind`;
  }

  #loginCookieName(state: string): string {
    return `${this.#c.names.login}-${state.replace(/[^A-Za-z0-9_-]/g, '').slice(0, 12)}`;
  }

  async #callback(req: IncomingMessage, res: ServerResponse, host: string, query: string, params: URLSearchParams, requestId: string): Promise<void> {
    const retry = this.loginUrl(new URL('/.portcullis/userinfo', this.#publicUrl).toString());
    if (host !== this.#publicUrl.hostname) return this.#page(res, req, 400, 'callback_wrong_host', 'Sign-in could not be completed', 'The sign-in response arrived at the wrong address. Start again.', requestId, retry);
    const state = params.get('state') ?? '';
    const cookieName = this.#loginCookieName(state);
    const clear = clearCookie(cookieName, { secure: this.#c.settings.cookie.secure, sameSite: 'Lax' });
    const login = state ? this.#c.sealer.unseal<LoginState>('login', readCookies(req.headers.cookie, cookieName)[0]) : undefined;
    const fail = (status: number, code: string, reason: string, title: string, text: string) => {
      this.#logger.warn({ type: 'login', event: 'callback_refused', request_id: requestId, code, reason }, 'sign-in callback refused');
      res.setHeader('set-cookie', clear);
      this.#page(res, req, status, code, title, text, requestId, login ? this.loginUrl(login.returnTo) : retry);
    };
    const error = params.get('error');
    if (error) {
      // Anyone can craft a callback URL: only the answer to this browser's own sign-in may put
      // the provider's words on the page; otherwise show a well-formed error code at most.
      const code = /^[a-z_]{1,64}$/.test(error) ? error : 'unknown_error';
      const description = (params.get('error_description') ?? '').slice(0, 300);
      const own = login !== undefined && login.state === state;
      return fail(400, 'idp_error', `${code}: ${description}`, 'Sign-in was not completed', own && description ? `The identity provider answered: ${description}.` : `The identity provider answered "${code}".`);
    }
    if (!login || login.state !== state) {
      return fail(400, 'login_state_invalid', login ? 'state mismatch' : 'login state cookie missing, expired or forged', 'Your sign-in expired', 'The sign-in took too long, was started in another browser, or was already used. Start again.');
    }
    let tokens: Awaited<ReturnType<OidcClient['exchangeCode']>>;
    try {
      tokens = await this.#c.oidc.exchangeCode(new URL(`/.portcullis/callback${query}`, this.#publicUrl), { state: login.state, nonce: login.nonce, verifier: login.verifier, maxAge: login.maxAge });
    } catch (err) {
      // A failed check (iss, nonce, PKCE, signature) is the answer's fault, not an outage: 400.
      if (isTransportError(err)) {
        return fail(503, 'idp_unavailable', describe(err), 'Sign-in is temporarily unavailable', 'Portcullis cannot reach the identity provider right now. Wait a moment and try again.');
      }
      return fail(400, 'login_verification_failed', describe(err), 'Sign-in could not be verified', 'The answer from the identity provider did not pass Portcullis\'s checks. Start again; if it keeps happening, tell your administrator and quote the request id.');
    }
    // One session per login attempt, even from a provider that would redeem a code twice.
    try {
      if (!(await this.#sessions.claimOnce(`login-state:${login.state}`, LOGIN_STATE_TTL_MS))) {
        return fail(400, 'login_state_invalid', 'login state already used', 'Your sign-in expired', 'This sign-in was already completed. Start again.');
      }
    } catch (err) {
      return fail(503, 'session_store_unavailable', (err as Error).message, 'Sign-in is temporarily unavailable', 'Portcullis cannot store your session right now. Wait a moment and try again.');
    }
    const claims: Record<string, unknown> = { ...tokens.claims() };
    const settings = this.#claimSettings();
    if ((claims[settings.groupsClaim] === undefined || claims[settings.emailClaim] === undefined) && tokens.access_token) {
      // Many providers put email and groups only in userinfo.
      try {
        const info = await this.#c.oidc.userinfo(tokens.access_token, String(claims.sub));
        for (const [k, v] of Object.entries(info)) if (claims[k] === undefined) claims[k] = v;
      } catch (err) {
        this.#logger.warn({ type: 'login', event: 'userinfo_failed', request_id: requestId, error: describe(err) }, 'userinfo failed; using ID token claims only');
      }
    }
    const signedIn = sessionFromClaims(claims, { idToken: tokens.id_token, accessToken: this.#keptAccessToken(tokens.access_token), refreshToken: tokens.refresh_token, expiresInSeconds: tokens.expiresIn() }, settings, Date.now());
    // Remember that this sign-in was a step-up, so a policy it still does not satisfy refuses instead of looping.
    const data = login.acrValues || login.maxAge !== undefined ? { ...signedIn, stepUpAt: signedIn.createdAt } : signedIn;
    let created: { ticket: string; id: string };
    try {
      created = await this.#sessions.create(data);
      // A new sign-in (a step-up, or another user on this browser) replaces the old session
      // instead of leaving it alive behind a cookie that is about to be overwritten.
      for (const previous of readCookies(req.headers.cookie, this.#c.names.session).slice(0, MAX_TICKETS_TRIED)) {
        await this.#sessions.revoke(previous).catch(() => {});
      }
    } catch (err) {
      return fail(503, 'session_store_unavailable', (err as Error).message, 'Sign-in is temporarily unavailable', 'Portcullis cannot store your session right now. Wait a moment and try again.');
    }
    this.#logger.info({ type: 'login', event: 'signed_in', request_id: requestId, session: created.id.slice(0, 8), sub: data.sub, email: data.email, acr: data.acr, amr: data.amr }, 'signed in');
    this.#sendToReturnUrl(res, created.ticket, login.returnTo, [clear], login.binding);
  }

  /** Set the session cookie here and go back, via a one-time hand-off if the cookie cannot reach that host. */
  #sendToReturnUrl(res: ServerResponse, ticket: string, returnTo: string, cookies: string[], binding: string | undefined): void {
    const target = new URL(returnTo);
    const host = target.hostname;
    const here = this.#publicUrl.hostname;
    const setHere = this.#sessionCookie(ticket, here);
    const d = this.#c.settings.cookie.domain;
    const shared = host === here || (d !== undefined && (host === d || host.endsWith('.' + d)) && (here === d || here.endsWith('.' + d)));
    if (shared) return redirect(res, returnTo, { 'set-cookie': [...cookies, setHere] });
    const handoff: Handoff = { ticket, host, url: returnTo, jti: randomUUID(), ...(binding ? { binding } : {}) };
    const token = this.#c.sealer.seal('handoff', handoff, HANDOFF_TTL_MS);
    const u = new URL('/.portcullis/handoff', target.origin);
    u.searchParams.set('token', token);
    redirect(res, u.toString(), { 'set-cookie': [...cookies, setHere] });
  }

  async #handoff(req: IncomingMessage, res: ServerResponse, host: string, params: URLSearchParams, requestId: string): Promise<void> {
    const h = this.#c.sealer.unseal<Handoff>('handoff', params.get('token') ?? undefined);
    const restart = this.loginUrl(this.#originOf(req, host) + '/');
    if (!h || h.host !== host) return this.#page(res, req, 400, 'handoff_invalid', 'Sign-in link expired', 'This sign-in link is invalid, expired, or meant for another site. Start again.', requestId, restart);
    // The hand-off must land in the browser that started the sign-in: otherwise anyone could send
    // their own hand-off link and sign a victim in to the sender's account (login CSRF). Another
    // browser (or a sign-in started without a binding) goes through its own, bound, hand-off.
    const proof = readCookies(req.headers.cookie, this.#bindingCookieName())[0];
    if (!h.binding || !proof || bindingHash(proof) !== h.binding) return this.sendLogin(req, res, h.url, requestId);
    let first: boolean;
    try {
      first = await this.#sessions.claimOnce(`handoff:${h.jti}`, HANDOFF_TTL_MS * 2);
    } catch {
      return this.#page(res, req, 503, 'session_store_unavailable', 'Sign-in is temporarily unavailable', 'Portcullis cannot reach its session store right now. Wait a moment and try again.', requestId, restart);
    }
    if (!first) return this.#page(res, req, 400, 'handoff_replayed', 'Sign-in link already used', 'This sign-in link was already used. Start again.', requestId, restart);
    const cleared = clearCookie(this.#bindingCookieName(), { secure: this.#c.settings.cookie.secure, sameSite: 'Lax' });
    redirect(res, h.url, { 'set-cookie': [this.#sessionCookie(h.ticket, host), cleared], 'x-request-id': requestId });
  }

  async #logout(req: IncomingMessage, res: ServerResponse, host: string, requestId: string): Promise<void> {
    const action = '/.portcullis/logout';
    const current = await Promise.resolve(this.authenticate(req)).catch(() => undefined);
    const clear = clearCookie(this.#c.names.session, this.#cookieOptions(host));
    if (req.method === 'GET' || req.method === 'HEAD') {
      if (current?.kind !== 'ok') return sendHtml(res, 200, signedOutPage(this.loginUrl(this.#publicUrl.origin + '/.portcullis/userinfo')), { 'set-cookie': clear });
      // Browsers apply form-action to every redirect after the POST: allow the provider's
      // end-session page and public_url, where the sign-out ends.
      const endSession = this.#c.oidc.endSessionUrl({});
      const targets = [`'self'`, this.#publicUrl.origin, ...(endSession ? [endSession.origin] : [])].join(' ');
      const csp = pageSecurityHeaders['content-security-policy']!.replace(`form-action 'self'`, `form-action ${targets}`);
      return sendHtml(res, 200, logoutConfirmPage({ email: current.session.email, csrf: this.#c.sealer.mac('csrf', current.id), action }), { 'content-security-policy': csp });
    }
    if (req.method !== 'POST') return this.#page(res, req, 405, 'method_not_allowed', 'Method not allowed', 'Sign out with the button on the sign-out page.', requestId);
    const body = (await readSmallBody(req)) ?? '';
    const csrf = new URLSearchParams(body).get('csrf') ?? undefined;
    if (current?.kind !== 'ok') return redirect(res, '/.portcullis/signed-out', { 'set-cookie': clear });
    // The form token is bound to this session; a cross-site form cannot know it.
    if (!this.#c.sealer.verifyMac('csrf', current.id, csrf)) {
      return this.#page(res, req, 403, 'csrf_failed', 'Sign-out not confirmed', 'The sign-out request did not come from Portcullis\'s own sign-out page. Use the button on that page.', requestId, action);
    }
    try {
      await this.#sessions.revoke(current.ticket);
    } catch (err) {
      return this.#page(res, req, 503, 'session_store_unavailable', 'Sign-out could not be completed', 'Portcullis cannot reach its session store right now, so your session could not be ended. Try again in a moment.', requestId, action);
    }
    this.#c.signer.forget(current.id);
    this.#logger.info({ type: 'logout', event: 'signed_out', request_id: requestId, session: current.id.slice(0, 8), sub: current.session.sub }, 'signed out');
    const signedOut = new URL('/.portcullis/signed-out', this.#publicUrl).toString();
    const endSession = this.#c.oidc.endSessionUrl({
      post_logout_redirect_uri: signedOut,
      client_id: this.#c.settings.idp.clientId,
      ...(current.session.idToken ? { id_token_hint: current.session.idToken } : {}),
    });
    redirect(res, endSession?.toString() ?? signedOut, { 'set-cookie': clear });
  }

  async #userinfo(req: IncomingMessage, res: ServerResponse, host: string, path: string, requestId: string): Promise<void> {
    const result = await this.authenticate(req);
    if (result.kind === 'unavailable') return this.#page(res, req, 503, result.code, 'Temporarily unavailable', 'Portcullis cannot check your session right now. Try again in a moment.', requestId);
    if (result.kind === 'login') return this.sendLogin(req, res, this.#originOf(req, host) + path, requestId);
    const s = result.session;
    if (!wantsHtml(req)) {
      return sendJson(res, 200, { sub: s.sub, email: s.email ?? null, email_verified: s.emailVerified ?? false, name: s.name ?? null, groups: s.groups, acr: s.acr ?? null, amr: s.amr ?? [], auth_time: s.authTime ?? null });
    }
    sendHtml(res, 200, userinfoPage(s, { logoutUrl: '/.portcullis/logout' }));
  }

  async #backchannelLogout(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const bad = (error: string, description: string) => {
      this.#logger.warn({ type: 'logout', event: 'backchannel_refused', error: description }, 'back-channel logout refused');
      sendJson(res, 400, { error, error_description: description }, { 'cache-control': 'no-store' });
    };
    if (req.method !== 'POST') return bad('invalid_request', 'use POST');
    const body = await readSmallBody(req);
    const token = body === undefined ? undefined : new URLSearchParams(body).get('logout_token');
    if (!token) return bad('invalid_request', 'logout_token missing');
    let claims: { sub?: string; sid?: string; jti: string };
    try {
      claims = await this.#c.oidc.verifyLogoutToken(token);
    } catch (err) {
      return bad('invalid_request', describe(err));
    }
    try {
      if (!(await this.#sessions.claimOnce(`logout-token:${claims.jti}`, 10 * 60_000))) return bad('invalid_request', 'logout token replayed');
      const ended = claims.sid ? await this.#sessions.revokeBySid(claims.sid) : await this.#sessions.revokeByUser(claims.sub!);
      this.#logger.info({ type: 'logout', event: 'backchannel', sub: claims.sub, sid: claims.sid, sessions_ended: ended }, 'back-channel logout');
      sendJson(res, 200, { sessions_ended: ended }, { 'cache-control': 'no-store' });
    } catch (err) {
      this.#logger.error({ type: 'logout', event: 'backchannel_failed', error: (err as Error).message }, 'back-channel logout could not reach the session store');
      sendJson(res, 503, { error: 'temporarily_unavailable' }, { 'cache-control': 'no-store' });
    }
  }
}

/** acr and max_age from /.portcullis/start; anything malformed is ignored rather than passed to the provider. */
export function parseStepUp(params: URLSearchParams): StepUp | undefined {
  const acr = params.get('acr');
  const maxAge = params.get('max_age');
  const acrValues = acr
    ?.split(' ')
    .filter((v) => /^[\x21-\x7e]{1,200}$/.test(v))
    .slice(0, 10);
  const maxAgeS = maxAge !== null && /^\d{1,9}$/.test(maxAge) ? Number(maxAge) : undefined;
  if (!acrValues?.length && maxAgeS === undefined) return undefined;
  return { ...(acrValues?.length ? { acrValues } : {}), ...(maxAgeS !== undefined ? { maxAgeS } : {}) };
}

function bindingHash(binding: string): string {
  return createHash('sha256').update(binding).digest('base64url');
}

export function randomSecret(): string {
  return randomBytes(32).toString('base64url');
}
