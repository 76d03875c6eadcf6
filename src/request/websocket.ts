// WebSocket upgrades: the same admission as any request (limits, host, path,
// route, and later the same authorization), then http-proxy-3 pipes the sockets.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { Socket } from 'node:net';
import { createProxyServer } from 'http-proxy-3';
import { errorCatalogue, type ErrorCode } from '../errors.ts';
import { addIdentity, admit, isReservedPath, upstreamHeaders, type HandlerDeps } from './handle.ts';
import { pageSecurityHeaders } from '../pages/style.ts';
import { authorize } from './authorize.ts';
import { enforceRateLimit, type KeyKind, type Limiter } from './rate-limit.ts';

export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  const upgrade = req.headers.upgrade;
  return typeof upgrade === 'string' && upgrade.toLowerCase() === 'websocket';
}

export interface OpenWebSocket {
  readonly requestId: string;
  readonly route: string;
  readonly client: Duplex;
  /** the session it was opened with, so revocation can close it */
  readonly sessionId: string | undefined;
  /** authorize again with the original request; false: close it */
  readonly recheck?: () => Promise<boolean>;
}

export interface UpgradeHandler {
  (req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** check every open WebSocket against its session and policy now (after a revocation) */
  recheckAll(): Promise<void>;
  stop(): void;
}

export function createUpgradeHandler(deps: HandlerDeps, open: Set<OpenWebSocket>): UpgradeHandler {
  const proxy = createProxyServer({ xfwd: false, ws: true, prependPath: true });
  // Every ws() call passes its own error callback; this listener is the backstop, because
  // an 'error' event without a listener would crash the process.
  proxy.on('error', (err) => deps.logger.warn({ type: 'websocket_error', error: (err as Error).message }, 'websocket upstream failed'));

  // Continuous verification: an open WebSocket is authorized again at every interval and
  // closed when its session ended, was revoked, or its policy (posture, time...) no longer allows it.
  let checking: Promise<void> | undefined;
  async function recheckAll(): Promise<void> {
    while (checking) await checking;
    checking = (async () => {
      await Promise.all(
        [...open].map(async (ws) => {
          if (!ws.recheck || ws.client.destroyed) return;
          const ok = await ws.recheck().catch(() => false);
          if (!ok) {
            deps.logger.info({ type: 'websocket', event: 'closed_by_recheck', request_id: ws.requestId, route: ws.route, session: ws.sessionId?.slice(0, 8) }, 'websocket closed: no longer authorized');
            ws.client.destroy();
          }
        }),
      );
    })().finally(() => (checking = undefined));
    return checking;
  }
  let timer: NodeJS.Timeout | undefined;
  const schedule = () => {
    timer = setTimeout(() => void recheckAll().finally(schedule), Math.max(250, deps.state().config.websocketRecheckMs));
    timer.unref();
  };
  schedule();

  const handler = function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const { config, auth, rateLimits } = deps.state();
    socket.on('error', () => socket.destroy());
    const gate = admit(req, config);
    const log = (status: number, error?: string, reason?: string) =>
      deps.logger.info({ type: 'access', websocket: true, request_id: gate.requestId, route: gate.route?.name ?? '', method: req.method, host: gate.facts?.host ?? '', path: gate.facts?.path ?? '', client_ip: gate.facts?.clientIp, status, error, reason }, 'websocket');
    const refuse = (code: ErrorCode, reason: string, retryAfterS?: number) => {
      if (socket.destroyed || !socket.writable) return;
      const entry = errorCatalogue[code];
      const body = JSON.stringify({ error: code, status: entry.status, message: entry.title, hint: entry.hint, request_id: gate.requestId, ...(retryAfterS ? { retry_after: retryAfterS } : {}) });
      const headers = { ...pageSecurityHeaders, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), 'x-request-id': gate.requestId, ...(retryAfterS ? { 'retry-after': String(retryAfterS) } : {}), connection: 'close' };
      socket.end(`HTTP/1.1 ${entry.status} ${entry.title}\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n${body}`);
      deps.metrics.countRequest(gate.route?.name ?? '', entry.status);
      log(entry.status, code, reason);
    };
    if (deps.isDraining()) return refuse('shutting_down', 'draining');
    if (!gate.ok) return refuse(gate.code, gate.reason);
    const { facts, route, requestId } = gate;
    if (req.method !== 'GET') return refuse('bad_request', 'WebSocket upgrade must be GET');
    if (isReservedPath(facts.path)) return refuse('unknown_endpoint', 'no such Portcullis endpoint');
    if (!route.websockets) return refuse('websockets_disabled', 'route does not allow websockets');
    // An upgrade counts as one request against the route's limit, like any other request.
    const limiter = rateLimits?.forRoute(route.name);
    const limited = async (l: Limiter, kind: KeyKind, key: string, user?: string): Promise<boolean> => {
      const retryAfterS = await enforceRateLimit(l, kind, key, { requestId, method: req.method ?? '', host: facts.host, path: facts.path, clientIp: facts.clientIp, user, websocket: true }, deps.logger, deps.metrics);
      if (retryAfterS !== undefined) refuse('rate_limited', `over ${l.spec.requests} requests per ${l.spec.perS}s per ${kind}`, retryAfterS);
      return retryAfterS !== undefined;
    };
    if (route.public && limiter) {
      return void limited(limiter, 'ip', facts.clientIp).then(
        (over) => {
          if (!over) connect(upstreamHeaders(req, facts, route, config, requestId, auth));
        },
        () => refuse('internal_error', 'exception during the rate limit check'),
      );
    }
    if (route.public) return void connect(upstreamHeaders(req, facts, route, config, requestId, auth));
    if (!auth) return refuse('auth_not_configured', 'route requires sign-in');
    // A WebSocket is authorized like any request: same session checks, policy and identity headers.
    const original = { headers: { ...req.headers }, method: req.method, socket: req.socket } as IncomingMessage;
    void (async () => {
      try {
        const access = await authorize({ req, facts, route, config, auth, requestId, logger: deps.logger, websocket: true });
        if (access.kind === 'unavailable') return refuse(access.code, access.reason);
        if (access.kind === 'login') return refuse('login_required', access.reason);
        if (access.kind === 'deny') return refuse('access_denied', access.decision.reasons.filter((r) => r.outcome !== 'pass').map((r) => r.code).join(','));
        if (limiter && (await limited(limiter, 'user', access.session.sub, access.session.sub))) return;
        const headers = upstreamHeaders(req, facts, route, config, requestId, auth);
        await addIdentity(headers, auth, access.id, access.session, route, facts);
        const recheck = async () => {
          const state = deps.state();
          const current = state.config.routes.find((r) => r.name === route.name);
          if (!current || !state.auth || current.public) return current?.public === true;
          const again = await authorize({ req: original, facts, route: current, config: state.config, auth: state.auth, requestId, logger: deps.logger, websocket: true });
          return again.kind === 'allow' && again.id === access.id;
        };
        connect(headers, access.id, recheck);
      } catch (err) {
        deps.logger.error({ type: 'bug', request_id: requestId, error: String((err as Error)?.stack ?? err) }, 'websocket authorization failed');
        refuse('internal_error', 'exception during authentication');
      }
    })();

    function connect(flat: string[], sessionId?: string, recheck?: () => Promise<boolean>): void {
      if (socket.destroyed) return;
      // http-proxy-3 copies req.headers and req.url; give it exactly what we checked.
      const headers: Record<string, string> = {};
      for (let i = 0; i < flat.length; i += 2) {
        const name = flat[i]!.toLowerCase();
        headers[name] = headers[name] === undefined ? flat[i + 1]! : `${headers[name]}, ${flat[i + 1]}`;
      }
      headers['connection'] = 'Upgrade';
      headers['upgrade'] = 'websocket';
      req.headers = headers;
      req.url = facts.path + facts.query;

      const entry: OpenWebSocket = { requestId, route: route.name, client: socket, sessionId, recheck };
      open.add(entry);
      deps.metrics.websocketsOpen.inc();
      socket.once('close', () => {
        open.delete(entry);
        deps.metrics.websocketsOpen.dec();
      });
      const t = route.upstreamTls;
      const written = socket instanceof Socket ? socket.bytesWritten : 0;
      proxy.ws(
        req,
        socket,
        head,
        {
          target: route.to.origin + route.to.basePath,
          ...(t ? { ca: t.ca, secure: t.rejectUnauthorized, ssl: { cert: t.cert, key: t.key, servername: t.servername } } : {}),
        },
        (err: Error) => {
          deps.logger.warn({ type: 'websocket_error', request_id: requestId, route: route.name, upstream: route.to.origin, error: err.message, code: (err as { code?: string }).code }, 'websocket upstream failed');
          // Nothing sent to the client yet: tell it why instead of just hanging up.
          if (socket instanceof Socket && socket.bytesWritten === written) refuse(err.message.includes('timed out') ? 'upstream_timeout' : 'upstream_unreachable', err.message);
          else socket.destroy();
        },
      );
      deps.metrics.countRequest(route.name, 101);
      log(101);
    }
  };
  return Object.assign(handler, {
    recheckAll,
    stop: () => clearTimeout(timer),
  });
}
