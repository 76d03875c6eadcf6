// `portcullis sessions list|revoke`: manage sessions in the configured Redis
// store from a shell, without going through a running instance. Returns what
// to print instead of printing, so tests call it directly.
import { parseArgs } from 'node:util';
import { loadConfigFile, type Env } from '../config/load.ts';
import type { RawConfig } from '../config/schema.ts';
import { ConfigError, formatConfigProblem } from '../errors.ts';
import { createSessionStore } from '../session/config.ts';
import { RedisSessionStore } from '../session/redis-store.ts';
import { SessionManager } from '../session/sessions.ts';
import { StoreUnavailableError } from '../session/store.ts';
import { isTicketId } from '../session/ticket.ts';
import { runAdminAction, type AdminAction, type AdminResult, type SessionRow } from './actions.ts';

export interface CommandResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CommandIo {
  /** ask a yes/no question; undefined when there is nobody to ask (no terminal) */
  readonly confirm?: (question: string) => Promise<boolean | undefined>;
}

export const SESSIONS_USAGE = `Usage:
  portcullis sessions list --user EMAIL|SUB [--config FILE] [--json]
  portcullis sessions revoke --user EMAIL|SUB [--config FILE] [--json]
  portcullis sessions revoke --session ID [--config FILE] [--json]
  portcullis sessions revoke --all [--yes] [--config FILE] [--json]

FILE defaults to $PORTCULLIS_CONFIG. Works with session.store: redis; an
in-memory store lives inside the running process: use the admin API on the
ops listener instead (/admin/sessions).
`;

const CONNECT_TIMEOUT_MS = 5000;

/**
 * A session id is base64url and so starts with "-" once in 64; parseArgs reads `--session -x...`
 * as an option without its value. A well-formed id after --session is taken as its value.
 */
function sessionIdsJoined(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const next = args[i + 1];
    if (args[i] === '--session' && next !== undefined && next.startsWith('-') && isTicketId(next)) {
      out.push(`--session=${next}`);
      i++;
    } else out.push(args[i]!);
  }
  return out;
}

export async function runSessionsCommand(args: readonly string[], env: Env, io: CommandIo = {}): Promise<CommandResult> {
  let parsed;
  try {
    parsed = parseArgs({
      args: sessionIdsJoined(args),
      allowPositionals: true,
      strict: true,
      options: {
        config: { type: 'string', short: 'c' },
        user: { type: 'string', short: 'u' },
        session: { type: 'string' },
        all: { type: 'boolean' },
        yes: { type: 'boolean', short: 'y' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    return usageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return { exitCode: 0, stdout: SESSIONS_USAGE, stderr: '' };

  const action = chooseAction(positionals, values);
  if ('problem' in action) return usageError(action.problem);

  const file = values.config ?? env.PORTCULLIS_CONFIG;
  if (!file) return usageError('give the configuration file with --config FILE (or set PORTCULLIS_CONFIG)');
  let raw: RawConfig;
  try {
    raw = loadConfigFile(file, env).raw;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return fail(`${file}: ${err.problems.length} problem${err.problems.length === 1 ? '' : 's'}\n${err.problems.map((p) => `  ${formatConfigProblem(p)}\n`).join('')}`);
  }
  if (raw.session.store !== 'redis') return fail(memoryStoreAdvice(raw, action.action));

  if (action.action.kind === 'revoke_all' && !values.yes) {
    const answer = await io.confirm?.('Revoke EVERY session in this store, signing out every user? [y/N] ');
    if (answer === undefined) return usageError('--all signs out every user: add --yes to confirm');
    if (!answer) return { exitCode: 1, stdout: '', stderr: 'nothing revoked\n' };
  }

  const store = createSessionStore({ session: raw.session, redis: raw.redis }, { warn: () => {}, info: () => {} });
  try {
    if (store instanceof RedisSessionStore) await store.waitUntilReady(CONNECT_TIMEOUT_MS);
    const manager = new SessionManager({ store, lifetimes: { idleMs: raw.session.idle_timeout, absoluteMs: raw.session.lifetime } });
    const result = await runAdminAction(manager, action.action);
    const exitCode = result.found === false ? 1 : 0;
    if (values.json) return { exitCode, stdout: JSON.stringify(result) + '\n', stderr: '' };
    return { exitCode, stdout: formatResult(result), stderr: '' };
  } catch (err) {
    if (!(err instanceof StoreUnavailableError)) throw err;
    return fail(`cannot reach the session store: ${err.message}`);
  } finally {
    await store.close();
  }
}

type ChosenAction = { action: AdminAction } | { problem: string };

/** Pure: the command line -> one action, or what is wrong with it. */
export function chooseAction(positionals: readonly string[], values: { user?: string | undefined; session?: string | undefined; all?: boolean | undefined }): ChosenAction {
  const [verb, ...extra] = positionals;
  if (extra.length) return { problem: `unexpected argument "${extra[0]}"` };
  const user = values.user?.trim();
  if (verb === 'list') {
    if (values.session !== undefined || values.all) return { problem: 'list takes --user only' };
    return user ? { action: { kind: 'list', user } } : { problem: 'list needs --user EMAIL|SUB: sessions are indexed by user' };
  }
  if (verb === 'revoke') {
    const targets = [user, values.session, values.all || undefined].filter((t) => t !== undefined && t !== '');
    if (targets.length !== 1) return { problem: 'revoke needs exactly one of --user EMAIL|SUB, --session ID or --all' };
    if (user) return { action: { kind: 'revoke_user', user } };
    if (values.session !== undefined) {
      const id = values.session.trim();
      return isTicketId(id) ? { action: { kind: 'revoke_session', id } } : { problem: `"${id}" is not a session id: copy the 22-character id from \`portcullis sessions list\`` };
    }
    return { action: { kind: 'revoke_all' } };
  }
  return { problem: verb === undefined ? 'say list or revoke' : `unknown sessions command "${verb}"` };
}

function memoryStoreAdvice(raw: RawConfig, action: AdminAction): string {
  const { host, port } = raw.ops.address;
  const ops = `${raw.ops.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
  const example =
    action.kind === 'list'
      ? `curl -H "Authorization: Bearer $ADMIN_TOKEN" '${ops}/admin/sessions?user=${encodeURIComponent(action.user)}'`
      : action.kind === 'revoke_user'
        ? `curl -X DELETE -H "Authorization: Bearer $ADMIN_TOKEN" '${ops}/admin/sessions?user=${encodeURIComponent(action.user)}'`
        : action.kind === 'revoke_session'
          ? `curl -X DELETE -H "Authorization: Bearer $ADMIN_TOKEN" '${ops}/admin/sessions/${action.id}'`
          : `curl -X DELETE -H "Authorization: Bearer $ADMIN_TOKEN" '${ops}/admin/sessions?confirm=all'`;
  return (
    'session.store is "memory": those sessions live inside the running Portcullis process, so this command cannot reach them.\n' +
    'Use the admin API on that instance\'s ops listener instead (it needs ops.admin_token or ops.tls.client_ca), for example:\n' +
    `  ${example}\n`
  );
}

function formatResult(result: AdminResult): string {
  if (!result.sessions) return result.summary + '\n';
  if (result.sessions.length === 0) return result.summary + '\n';
  const header = ['ID', 'USER', 'CREATED', 'IDLE EXPIRY', 'ABSOLUTE EXPIRY'];
  const rows = result.sessions.map((s: SessionRow) => [s.id, userOf(s), short(s.created_at), short(s.idle_expires_at), short(s.expires_at)]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd() + '\n';
  return line(header) + rows.map(line).join('') + result.summary + '\n';
}

function userOf(row: SessionRow): string {
  if (row.email !== undefined && row.sub !== undefined) return `${row.email} (${row.sub})`;
  return row.email ?? row.sub ?? '';
}

/** "2026-11-03T10:04:05.123Z" -> "2026-11-03 10:04:05Z" */
function short(iso: string): string {
  return iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

function usageError(problem: string): CommandResult {
  return { exitCode: 2, stdout: '', stderr: `portcullis sessions: ${problem}\n\n${SESSIONS_USAGE}` };
}

function fail(message: string): CommandResult {
  return { exitCode: 1, stdout: '', stderr: `portcullis sessions: ${message}${message.endsWith('\n') ? '' : '\n'}` };
}

/** A yes/no question on the terminal; undefined when stdin is not one (a script must pass --yes). */
export async function askOnTerminal(question: string): Promise<boolean | undefined> {
  if (!process.stdin.isTTY) return undefined;
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}
