// The admin API, mounted under /admin on the operations listener only (never
// the public one):
//
//   GET    /admin/sessions?user=EMAIL|SUB     list a user's sessions
//   DELETE /admin/sessions?user=EMAIL|SUB     revoke them
//   DELETE /admin/sessions/ID                 revoke one session
//   DELETE /admin/sessions?confirm=all        revoke every session
//
// Every request proves it is an administrator first (authorize.ts), then the
// action runs against the shared session store, so a revocation on one
// instance is seen by every other instance on its next request.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { TLSSocket } from 'node:tls';
import type { Logger } from '../log.ts';
import type { SessionManager } from '../session/sessions.ts';
import { StoreUnavailableError } from '../session/store.ts';
import { runAdminAction, type AdminAction } from './actions.ts';
import { authorizeAdmin, type AdminCredentials } from './authorize.ts';
import type { CompiledOps } from './config.ts';

export interface AdminDeps {
  /** read per request, so a reload that changes ops.admin_token takes effect at once */
  readonly ops: () => CompiledOps;
  /** undefined while no route requires sign-in: then there are no sessions */
  readonly sessions: () => SessionManager | undefined;
  readonly logger: Logger;
}

type Refusal = { readonly status: number; readonly error: string; readonly message: string; readonly allow?: string };

/** Pure: method and URL -> the action, or why there is none. */
export function parseAdminRequest(method: string, url: string): { action: AdminAction } | Refusal {
  const { pathname, searchParams } = new URL(url, 'http://ops.invalid');
  const user = searchParams.get('user')?.trim();
  if (pathname === '/admin/sessions') {
    if (method === 'GET') {
      if (user) return { action: { kind: 'list', user } };
      return { status: 400, error: 'user_required', message: 'Name the user: /admin/sessions?user=EMAIL or ?user=SUB. Sessions are indexed by user, so there is no listing of everyone.' };
    }
    if (method === 'DELETE') {
      if (user) return { action: { kind: 'revoke_user', user } };
      if (searchParams.get('confirm') === 'all') return { action: { kind: 'revoke_all' } };
      return { status: 400, error: 'target_required', message: 'Say what to revoke: ?user=EMAIL|SUB, /admin/sessions/ID, or ?confirm=all to sign out everyone.' };
    }
    return { status: 405, error: 'method_not_allowed', message: 'Use GET to list or DELETE to revoke.', allow: 'GET, DELETE' };
  }
  const one = /^\/admin\/sessions\/([^/]+)$/.exec(pathname);
  if (one) {
    if (method === 'DELETE') return { action: { kind: 'revoke_session', id: decodeURIComponent(one[1]!) } };
    return { status: 405, error: 'method_not_allowed', message: 'Use DELETE to revoke a session.', allow: 'DELETE' };
  }
  return { status: 404, error: 'not_found', message: 'Admin endpoints: GET/DELETE /admin/sessions?user=..., DELETE /admin/sessions/ID, DELETE /admin/sessions?confirm=all.' };
}

export function createAdminHandler(deps: AdminDeps) {
  return async function handleAdmin(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const access = authorizeAdmin(deps.ops(), credentialsOf(req));
    if (!access.allowed) {
      // Refusals are logged too: repeated ones mean someone is guessing.
      if (access.status !== 404) deps.logger.warn({ type: 'admin', result: 'refused', status: access.status, reason: access.error, client_ip: req.socket.remoteAddress, method }, 'admin request refused');
      const headers = access.status === 401 ? { 'www-authenticate': 'Bearer realm="portcullis-admin"' } : undefined;
      return json(res, access.status, { error: access.error, message: access.message }, headers);
    }
    const parsed = parseAdminRequest(method, req.url ?? '/');
    if (!('action' in parsed)) return json(res, parsed.status, { error: parsed.error, message: parsed.message }, parsed.allow ? { allow: parsed.allow } : undefined);
    const manager = deps.sessions();
    if (!manager) {
      return json(res, 404, { error: 'sessions_not_configured', message: 'No route requires sign-in (there is no identity_provider), so there are no sessions to manage.' });
    }
    const { action } = parsed;
    try {
      const result = await runAdminAction(manager, action);
      deps.logger.info({ type: 'admin', who: access.who, action: action.kind, ...target(action), count: result.count }, result.summary);
      if (action.kind === 'revoke_session' && !result.found) return json(res, 404, { error: 'session_not_found', ...result });
      return json(res, 200, result);
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err;
      deps.logger.error({ type: 'admin', who: access.who, action: action.kind, ...target(action), error: err.message }, 'admin action failed: session store unavailable');
      return json(res, 503, { error: err.code, message: err.message });
    }
  };
}

function target(action: AdminAction): Record<string, string> {
  if ('user' in action) return { user: action.user };
  if ('id' in action) return { session: action.id };
  return {};
}

function credentialsOf(req: IncomingMessage): AdminCredentials {
  const socket = req.socket;
  let certificate: AdminCredentials['certificate'];
  if (socket instanceof TLSSocket) {
    const peer = socket.getPeerCertificate();
    // An empty object means the client sent no certificate.
    if (peer && Object.keys(peer).length > 0) certificate = { authorized: socket.authorized, subject: formatSubject(peer.subject) };
  }
  return { authorization: req.headers.authorization, certificate };
}

function formatSubject(subject: Record<string, string | string[] | undefined> | undefined): string {
  if (!subject) return '';
  return Object.entries(subject)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key}=${Array.isArray(value) ? value.join('+') : value}`)
    .join(', ');
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}
