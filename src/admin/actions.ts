// What an administrator can do to sessions, shared by the admin API (api.ts)
// and the command line (cli.ts): run one action against the SessionManager
// and describe the result in one sentence. Never a ticket or token: the
// manager only ever hands out ids and times.
import type { SessionInfo, SessionManager } from '../session/sessions.ts';

export type AdminAction =
  | { readonly kind: 'list'; readonly user: string }
  | { readonly kind: 'revoke_user'; readonly user: string }
  | { readonly kind: 'revoke_session'; readonly id: string }
  | { readonly kind: 'revoke_all' };

/** One session as an administrator sees it. sub/email are the query that found it: the store keeps only their hashes. */
export interface SessionRow {
  readonly id: string;
  readonly sub?: string;
  readonly email?: string;
  readonly created_at: string;
  readonly idle_expires_at: string;
  readonly expires_at: string;
}

export interface AdminResult {
  readonly action: AdminAction['kind'];
  /** sessions listed or revoked */
  readonly count: number;
  readonly sessions?: readonly SessionRow[];
  /** revoke_session: false when there was no such session */
  readonly found?: boolean;
  /** one sentence for people: "revoked 3 sessions of alice@example.com" */
  readonly summary: string;
}

export async function runAdminAction(manager: SessionManager, action: AdminAction): Promise<AdminResult> {
  switch (action.kind) {
    case 'list': {
      const sessions = (await manager.list({ user: action.user })).map(toRow);
      return { action: action.kind, count: sessions.length, sessions, summary: `${sessionsText(sessions.length)} of ${action.user}` };
    }
    case 'revoke_user': {
      const count = await manager.revokeUser(action.user);
      return { action: action.kind, count, summary: `revoked ${sessionsText(count)} of ${action.user}` };
    }
    case 'revoke_session': {
      const found = await manager.revokeId(action.id);
      const summary = found ? `revoked session ${action.id}` : `no session ${action.id}: it has ended, was revoked, or the id is mistyped`;
      return { action: action.kind, count: found ? 1 : 0, found, summary };
    }
    case 'revoke_all': {
      const count = await manager.revokeAll();
      return { action: action.kind, count, summary: `revoked all sessions (${count})` };
    }
  }
}

export function sessionsText(count: number): string {
  return `${count} session${count === 1 ? '' : 's'}`;
}

function toRow(info: SessionInfo): SessionRow {
  return {
    id: info.id,
    ...(info.sub !== undefined ? { sub: info.sub } : {}),
    ...(info.email !== undefined ? { email: info.email } : {}),
    created_at: new Date(info.createdAt).toISOString(),
    idle_expires_at: new Date(info.idleExpiresAt).toISOString(),
    expires_at: new Date(info.expiresAt).toISOString(),
  };
}
