// The one orchestrator for every HTTP request, in the order it runs:
// limits -> target (host, path) -> route -> authenticate/authorize -> forward -> log.
// Decisions are made by pure functions; this file only gathers facts and acts.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { CompiledConfig, CompiledRoute } from '../config/compile.ts';
import type { ErrorCode } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../ops/metrics.ts';
import { sendError, type ErrorDetails } from '../pages/respond.ts';
import { parseTarget } from './target.ts';
import { matchRoute } from './route-match.ts';
import { canonicalIp, clientAddress } from './client-ip.ts';
import { filterRequestHeaders } from './headers.ts';
import { forward, type ForwardOutcome, type UpstreamPools } from './forward.ts';
import type { RequestRecord } from './context.ts';

/** Everything a request reads, swapped as a whole on reload: in-flight requests keep theirs. */
export interface RuntimeState {
  readonly config: CompiledConfig;
  readonly pools: UpstreamPools;
}

export interface HandlerDeps {
  readonly state: () => RuntimeState;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly isDraining: () => boolean;
}

/** Paths Portcullis answers itself on every host it serves; never forwarded upstream. */
export const RESERVED_PREFIXES = ['/.portcullis/', '/.well-known/portcullis/'];

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
  const requestId = typeof sentId === 'string' && REQUEST_ID.test(sentId) ? sentId : randomUUID();

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
export function upstreamHeaders(req: IncomingMessage, facts: RequestFacts, route: CompiledRoute, config: CompiledConfig, requestId: string): string[] {
  const headers = filterRequestHeaders({ rawHeaders: req.rawHeaders, extraStripped: config.injectedHeaderNames });
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
    if (!config.log.access_log) return;
    logger.info(
      {
        type: 'access',
        request_id: rec.id,
        route: rec.route,
        method: rec.method,
        host: rec.host,
        path: rec.path,
        client_ip: rec.clientIp,
        status: rec.status,
        bytes: rec.bytes,
        duration_ms: Math.round((performance.now() - rec.start) * 100) / 100,
        upstream_ms: rec.upstreamMs === undefined ? undefined : Math.round(rec.upstreamMs * 100) / 100,
        error: rec.error,
        reason: rec.reason,
      },
      'request',
    );
  }

  return function handleRequest(req: IncomingMessage, res: ServerResponse): void {
    const { config, pools } = deps.state();
    const gate = admit(req, config);
    const rec: RequestRecord = {
      id: gate.requestId,
      start: performance.now(),
      method: req.method ?? '',
      host: gate.facts?.host ?? '',
      // When the target was refused, log what was sent (without the query, which may hold secrets).
      path: gate.facts?.path ?? (req.url ?? '').split('?')[0]!.slice(0, 256),
      clientIp: gate.facts?.clientIp ?? canonicalIp(req.socket.remoteAddress ?? ''),
      route: gate.route?.name ?? '',
      status: 0,
      bytes: 0,
      upstreamMs: undefined,
      error: undefined,
      reason: undefined,
    };
    const socket = req.socket;
    const bytesBefore = socket.bytesWritten;
    res.once('close', () => {
      rec.status = res.statusCode;
      // bytes on the wire for this response, headers included
      rec.bytes = socket.bytesWritten - bytesBefore;
      finish(rec, config);
    });
    if (deps.isDraining()) res.setHeader('connection', 'close');

    const refuse = (code: ErrorCode, reason: string, details?: ErrorDetails) => {
      rec.error = code;
      rec.reason = reason;
      sendError(req, res, code, gate.requestId, details);
    };

    if (!gate.ok) return refuse(gate.code, gate.reason);
    const { facts, route, requestId } = gate;

    if (isReservedPath(facts.path)) return refuse('unknown_endpoint', 'no such Portcullis endpoint');
    if (!route.public) return refuse('auth_not_configured', 'route requires sign-in');

    forward({
      req,
      res,
      route,
      pool: pools.get(route),
      pathAndQuery: facts.path + facts.query,
      headers: upstreamHeaders(req, facts, route, config, requestId),
      requestId,
      done: (outcome: ForwardOutcome) => {
        rec.upstreamMs = outcome.upstreamMs;
        if (outcome.error) {
          logger.warn({ type: 'upstream_error', request_id: requestId, route: route.name, upstream: route.to.origin, error: outcome.cause?.message, code: (outcome.cause as { code?: string } | undefined)?.code }, 'upstream failed');
          refuse(outcome.error, outcome.cause?.message ?? outcome.error);
        }
      },
    });
  };
}
