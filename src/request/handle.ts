// The one orchestrator for every HTTP request, in the order it runs:
// limits -> target (host, path) -> route -> authenticate/authorize -> forward -> log.
// Decisions are made by pure functions; this file only gathers facts and acts.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { CompiledConfig, CompiledRoute } from '../config/compile.ts';
import type { ErrorCode } from '../errors.ts';
import { jsonString, type Logger } from '../log.ts';
import type { Metrics } from '../ops/metrics.ts';
import { sendError, type ErrorDetails } from '../pages/respond.ts';
import { parseTarget } from './target.ts';
import { matchRoute } from './route-match.ts';
import { canonicalIp, clientAddress } from './client-ip.ts';
import { filterRequestHeaders } from './headers.ts';
import { newRequestId } from './request-id.ts';
import { forward, type ForwardHandle, type ForwardOutcome, type UpstreamPools } from './forward.ts';
import type { RequestRecord } from './context.ts';
import { logAccess } from './access-log.ts';
import type { Auth } from '../auth/auth.ts';
import { authorize, type Access } from './authorize.ts';
import { isPromise, type MaybePromise } from '../maybe-promise.ts';
import { sendDenied } from '../pages/denied.ts';
import { pushIdentityHeaders, ASSERTION_HEADER, ID_TOKEN_HEADER } from '../identity/inject.ts';
import type { SessionData } from '../auth/session-data.ts';
import { enforceRateLimit, rateLimitedDetails, LOGIN_LIMITED_PATHS, type KeyKind, type Limiter, type RateLimits } from './rate-limit.ts';

/** Everything a request reads, swapped as a whole on reload: in-flight requests keep theirs. */
export interface RuntimeState {
  readonly config: CompiledConfig;
  readonly pools: UpstreamPools;
  /** sign-in and sessions; undefined when every route is public */
  readonly auth: Auth | undefined;
  /** the rate limiters built for this config (src/request/rate-limit.ts); absent: no limits */
  readonly rateLimits?: RateLimits;
}

export interface HandlerDeps {
  readonly state: () => RuntimeState;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly isDraining: () => boolean;
}

/** Paths Portcullis answers itself on every host it serves; never forwarded upstream. */
export function isReservedPath(path: string): boolean {
  return path.startsWith('/.portcullis/') || path.startsWith('/.well-known/portcullis/') || path === '/.portcullis';
}

const REQUEST_ID = /^[A-Za-z0-9._:@-]{1,128}$/;

/** Facts about the connection and request that every later step needs. */
export interface RequestFacts {
  readonly peer: string;
  readonly peerTrusted: boolean;
  readonly clientIp: string;
  readonly encrypted: boolean;
  readonly host: string;
  readonly path: string;
  readonly query: string;
}

export type Gate =
  | { ok: true; facts: RequestFacts; route: CompiledRoute; requestId: string }
  | { ok: false; code: ErrorCode; reason: string; requestId: string; facts?: RequestFacts; route?: CompiledRoute };

/**
 * The checks shared by plain requests and WebSocket upgrades: header limits,
 * one unambiguous host and path, and a route for them.
 */
export function admit(req: IncomingMessage, config: CompiledConfig): Gate {
  const peer = canonicalIp(req.socket.remoteAddress ?? '');
  const peerTrusted = config.isTrustedProxy(peer);
  const sentId = peerTrusted ? req.headers['x-request-id'] : undefined;
  const requestId = typeof sentId === 'string' && REQUEST_ID.test(sentId) ? sentId : newRequestId();

  const raw = req.rawHeaders;
  // Node keeps reading past maxHeadersCount and silently drops the rest; refuse instead,
  // so a header beyond the limit cannot escape the stripping below.
  if (raw.length > config.limits.max_headers * 2) return { ok: false, code: 'headers_too_large', reason: 'too many headers', requestId };
  let hostCount = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host') hostCount++;
  }
  if (hostCount > 1) return { ok: false, code: 'bad_host', reason: 'several Host headers', requestId };

  const target = parseTarget(req.url ?? '', req.headers.host);
  if (!target.ok) return { ok: false, code: target.code, reason: target.reason, requestId };

  const xff = req.headers['x-forwarded-for'];
  const forwardedFor = typeof xff === 'string' ? xff : undefined;
  const facts: RequestFacts = {
    peer,
    peerTrusted,
    clientIp: clientAddress(peer, forwardedFor, config.isTrustedProxy),
    encrypted: (req.socket as TLSSocket).encrypted === true,
    host: target.host,
    path: target.path,
    query: target.query,
  };
  const route = matchRoute(config.routeTable, facts.host, facts.path);
  if (!route) return { ok: false, code: 'unknown_host', reason: 'no route for host and path', requestId, facts };
  return { ok: true, facts, route, requestId };
}

/** The headers the upstream receives: the client's minus everything it may not set, plus ours. */
export function upstreamHeaders(req: IncomingMessage, facts: RequestFacts, route: CompiledRoute, config: CompiledConfig, requestId: string, auth: Auth | undefined): string[] {
  // The upstream never sees Portcullis's own cookies.
  const headers = filterRequestHeaders({ rawHeaders: req.rawHeaders, extraStripped: config.injectedHeaderNames, cookie: auth?.upstreamCookie });
  const sentHost = req.headers.host ?? facts.host;
  headers.push('host', route.preserveHost ? sentHost : route.to.host);
  // X-Forwarded-* describe what Portcullis saw. A trusted proxy's values are kept and extended;
  // anyone else's were dropped above.
  const xff = facts.peerTrusted ? req.headers['x-forwarded-for'] : undefined;
  headers.push('x-forwarded-for', xff ? `${xff}, ${facts.peer}` : facts.peer);
  const xfp = facts.peerTrusted ? req.headers['x-forwarded-proto'] : undefined;
  headers.push('x-forwarded-proto', typeof xfp === 'string' && /^https?$/.test(xfp) ? xfp : facts.encrypted ? 'https' : 'http');
  const xfh = facts.peerTrusted ? req.headers['x-forwarded-host'] : undefined;
  headers.push('x-forwarded-host', typeof xfh === 'string' && xfh ? xfh : sentHost);
  headers.push('x-request-id', requestId);
  return headers;
}

export function createRequestHandler(deps: HandlerDeps) {
  const { logger, metrics } = deps;

  function finish(rec: RequestRecord, config: CompiledConfig): void {
    metrics.countRequest(rec.route, rec.status);
    if (rec.upstreamMs !== undefined) metrics.observeUpstream(rec.route, rec.upstreamMs);
    if (config.log.access_log) logAccess(logger, rec, performance.now() - rec.start);
  }

  return function handleRequest(req: IncomingMessage, res: ServerResponse): void {
    const { config, pools, auth, rateLimits } = deps.state();
    const gate = admit(req, config);
    const rec: RequestRecord = {
      id: gate.requestId,
      idJson: jsonString(gate.requestId),
      start: performance.now(),
      method: req.method ?? '',
      host: gate.facts?.host ?? '',
      // When the target was refused, log what was sent (without the query, which may hold secrets).
      path: gate.facts?.path ?? (req.url ?? '').split('?')[0]!.slice(0, 256),
      clientIp: gate.facts?.clientIp ?? canonicalIp(req.socket.remoteAddress ?? ''),
      user: undefined,
      route: gate.route?.name ?? '',
      status: 0,
      bytes: 0,
      upstreamMs: undefined,
      error: undefined,
      reason: undefined,
    };
    const socket = req.socket;
    const bytesBefore = socket.bytesWritten;
    /** set while the request is with its upstream, which is told when the client goes away */
    let upstream: ForwardHandle | undefined;
    // One listener does both: a second on the same event costs every request an array of listeners.
    res.on('close', () => {
      rec.status = res.statusCode;
      if (!res.writableFinished && rec.error === undefined) {
        // The connection closed before the whole response was written, and not by Portcullis
        // (which records why before it cuts one): nginx's 499 when nothing was sent yet.
        rec.error = 'client_closed';
        if (res.headersSent) rec.reason = 'the client left before the response was complete';
        else {
          rec.status = 499;
          rec.reason = 'the client left before the response began';
        }
      }
      // bytes on the wire for this response, headers included
      rec.bytes = socket.bytesWritten - bytesBefore;
      finish(rec, config);
      // After the access line, as when this was a listener of its own: stopping the upstream
      // request reports an outcome, which must not change the line.
      upstream?.clientClosed();
    });
    if (deps.isDraining()) res.setHeader('connection', 'close');

    const refuse = (code: ErrorCode, reason: string, details?: ErrorDetails) => {
      rec.error = code;
      rec.reason = reason;
      sendError(req, res, code, gate.requestId, details);
    };

    if (!gate.ok) {
      // Portcullis's own endpoints also live on public_url's host, which need not be a route.
      if (gate.code === 'unknown_host' && gate.facts && auth && isReservedPath(gate.facts.path) && gate.facts.host === config.publicUrl.hostname) {
        return void serveEndpoint(auth, gate.facts, gate.requestId);
      }
      return refuse(gate.code, gate.reason);
    }
    const { facts, route, requestId } = gate;

    if (isReservedPath(facts.path)) {
      if (auth) return void serveEndpoint(auth, facts, requestId);
      return refuse('unknown_endpoint', 'no such Portcullis endpoint');
    }
    if (route.public || (route.allowCorsPreflight && isCorsPreflight(req))) {
      // No sign-in here, so the route's limit counts per client address.
      const limiter = rateLimits?.forRoute(route.name);
      if (!limiter) return send(upstreamHeaders(req, facts, route, config, requestId, auth));
      return void limited(limiter, 'ip', facts.clientIp, facts, requestId).then(
        (over) => {
          if (!over && !res.destroyed) send(upstreamHeaders(req, facts, route, config, requestId, auth));
        },
        (err: unknown) => {
          logger.error({ type: 'bug', request_id: requestId, error: String((err as Error)?.stack ?? err) }, 'rate limit check failed');
          refuse('internal_error', 'exception during the rate limit check');
        },
      );
    }
    if (!auth) return refuse('auth_not_configured', 'route requires sign-in');
    void authorizeAndSend(auth, facts, route, requestId);

    /** Count the request; when it is over the limit, answer 429 and return true. */
    async function limited(limiter: Limiter, kind: KeyKind, key: string, f: RequestFacts, id: string, user?: string): Promise<boolean> {
      const retryAfterS = await enforceRateLimit(limiter, kind, key, { requestId: id, method: req.method ?? '', host: f.host, path: f.path, clientIp: f.clientIp, user }, logger, metrics);
      if (retryAfterS === undefined) return false;
      refuse('rate_limited', `over ${limiter.spec.requests} requests per ${limiter.spec.perS}s per ${kind}`, rateLimitedDetails(retryAfterS));
      return true;
    }

    async function serveEndpoint(a: Auth, f: RequestFacts, id: string): Promise<void> {
      rec.route = '.portcullis';
      // Sign-in endpoints cost an identity provider round trip or a sealed cookie each: limited per address.
      const login = LOGIN_LIMITED_PATHS.has(f.path) ? rateLimits?.login : undefined;
      try {
        if (login && (await limited(login, 'ip', f.clientIp, f, id))) return;
        if (!(await a.handleEndpoint(req, res, f.host, f.path, f.query, id))) refuse('unknown_endpoint', 'no such Portcullis endpoint');
      } catch (err) {
        logger.error({ type: 'bug', request_id: id, error: String((err as Error)?.stack ?? err) }, 'endpoint failed');
        refuse('internal_error', 'endpoint threw');
      }
    }

    /**
     * Synchronous from start to forward when the session and posture are cached here; any
     * step that needs I/O continues in a promise. An exception anywhere is a refusal.
     */
    function authorizeAndSend(a: Auth, f: RequestFacts, r: CompiledRoute, id: string): void {
      // Fail closed: an exception anywhere on the way to a decision is a refusal, never a pass.
      const failed = (err: unknown) => {
        logger.error({ type: 'bug', request_id: id, error: String((err as Error)?.stack ?? err) }, 'request failed before forwarding');
        refuse('internal_error', 'exception during authentication');
      };
      try {
        const access = authorize({ req, facts: f, route: r, config, auth: a, requestId: id, requestIdJson: rec.idJson, logger });
        const done = isPromise(access) ? access.then(act) : act(access);
        if (isPromise(done)) done.catch(failed);
      } catch (err) {
        failed(err);
      }

      function act(access: Access): MaybePromise<void> {
        if (res.destroyed) return;
        switch (access.kind) {
          case 'unavailable':
            return refuse(access.code, access.reason);
          case 'login':
            rec.error = 'login_required';
            rec.reason = access.reason;
            return a.sendLogin(req, res, `${r.scheme}://${req.headers.host ?? f.host}${f.path}${f.query}`, id, access.stepUp);
          case 'deny':
            rec.user = access.session.sub;
            rec.error = 'access_denied';
            rec.reason = access.decision.reasons.filter((x) => x.outcome !== 'pass').map((x) => x.code).join(',');
            return sendDenied(req, res, { decision: access.decision, requestId: id, routeName: r.name, user: access.session.email ?? access.session.sub });
        }
        rec.user = access.session.sub;
        // After authorization, so the limit counts per user rather than per shared office address.
        const limiter = rateLimits?.forRoute(r.name);
        if (limiter) return limited(limiter, 'user', access.session.sub, f, id, access.session.sub).then((over) => (over ? undefined : forwardAs(access)));
        return forwardAs(access);
      }

      function forwardAs(access: Extract<Access, { kind: 'allow' }>): MaybePromise<void> {
        const headers = upstreamHeaders(req, f, r, config, id, a);
        const identity = addIdentity(headers, a, access.id, access.session, r, f);
        if (isPromise(identity)) return identity.then(() => send(headers));
        send(headers);
      }
    }

    function send(headers: string[]): void {
      upstream = forward({
        req,
        res,
        route,
        pool: pools.get(route),
        pathAndQuery: facts.path + facts.query,
        headers,
        requestId,
        done: (outcome: ForwardOutcome) => {
          rec.upstreamMs = outcome.upstreamMs;
          if (outcome.error) {
            logger.warn({ type: 'upstream_error', request_id: requestId, route: route.name, upstream: route.to.origin, error: outcome.cause?.message, code: (outcome.cause as { code?: string } | undefined)?.code }, 'upstream failed');
            refuse(outcome.error, outcome.cause?.message ?? outcome.error);
          }
        },
      });
    }
  };
}

/** Verified identity for the upstream: headers from the session and the signed assertion (cached, so usually at once). */
export function addIdentity(headers: string[], auth: Auth, sessionId: string, s: SessionData, route: CompiledRoute, facts: RequestFacts): MaybePromise<void> {
  const settings = auth.components.settings;
  pushIdentityHeaders(headers, s, settings.userHeader, route.identityHeaders);
  // An exact host's route matched only that host: its audience is the route's, the same string every time.
  const assertion = auth.signer.assertion(sessionId, route.audience ?? `${route.scheme}://${facts.host}`, s);
  if (isPromise(assertion)) return assertion.then((jwt) => addTokens(headers, jwt, s, route));
  addTokens(headers, assertion, s, route);
}

function addTokens(headers: string[], assertion: string, s: SessionData, route: CompiledRoute): void {
  headers.push(ASSERTION_HEADER, assertion);
  if (route.passIdToken && s.idToken) headers.push(ID_TOKEN_HEADER, s.idToken);
  if (route.passAccessToken && s.accessToken) {
    // The client's own Authorization header was for Portcullis's route, not for this token.
    for (let i = 0; i < headers.length; i += 2) if (headers[i]!.toLowerCase() === 'authorization') headers.splice(i, 2), (i -= 2);
    headers.push('authorization', `Bearer ${s.accessToken}`);
  }
}

function isCorsPreflight(req: IncomingMessage): boolean {
  return req.method === 'OPTIONS' && req.headers.origin !== undefined && req.headers['access-control-request-method'] !== undefined;
}
