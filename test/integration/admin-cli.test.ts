// `portcullis sessions list|revoke` against a real Redis: what an administrator
// sees and what it does to the sessions that Portcullis instances read.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runSessionsCommand } from '../../src/admin/cli.ts';
import { RedisSessionStore } from '../../src/session/redis-store.ts';
import { SessionManager } from '../../src/session/sessions.ts';
import { SHARED_REDIS_URL, deleteKeysWithPrefix, uniquePrefix } from '../helpers/redis.ts';
import { writeConfig } from '../helpers/servers.ts';

const prefix = uniquePrefix('admin-cli');
const lifetimes = { idleMs: 3_600_000, absoluteMs: 43_200_000 };
let store: RedisSessionStore;
let manager: SessionManager;
let configFile: string;

const configYaml = (store: string) => `listen: { address: "127.0.0.1:0" }
ops: { address: "127.0.0.1:9191" }
public_url: http://access.test
session: { store: ${store} }
${store === 'redis' ? `redis: { url: "${SHARED_REDIS_URL}", key_prefix: "${prefix}" }\n` : ''}routes:
  - { name: site, from: http://site.test, to: http://127.0.0.1:9, public: true }
`;

beforeAll(async () => {
  store = new RedisSessionStore({ target: { mode: 'standalone', url: SHARED_REDIS_URL }, keyPrefix: prefix });
  await store.waitUntilReady();
  manager = new SessionManager({ store, lifetimes });
  configFile = writeConfig(configYaml('redis'));
});

afterAll(async () => {
  await store?.close();
  await deleteKeysWithPrefix(prefix);
});

const run = (args: string[], confirm?: (q: string) => Promise<boolean | undefined>) => runSessionsCommand(args, {}, confirm ? { confirm } : {});

async function signedIn(sub: string, email: string) {
  const created = await manager.create({ sub, email, accessToken: 'at-' + sub, refreshToken: 'rt-' + sub } as never);
  return created;
}

describe('portcullis sessions', () => {
  it('lists a user\'s sessions with id, user and times, and never a ticket or token', async () => {
    const a = await signedIn('sub-carol', 'carol@example.com');
    const b = await signedIn('sub-carol', 'carol@example.com');
    const out = await run(['list', '--user', 'carol@example.com', '--config', configFile]);
    expect(out.exitCode).toBe(0);
    expect(out.stdout).toMatch(/^ID\s+USER\s+CREATED\s+IDLE EXPIRY\s+ABSOLUTE EXPIRY\n/);
    expect(out.stdout).toContain(a.id);
    expect(out.stdout).toContain(b.id);
    expect(out.stdout).toContain('carol@example.com');
    expect(out.stdout).toMatch(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ/);
    expect(out.stdout.trimEnd().split('\n').at(-1)).toBe('2 sessions of carol@example.com');
    for (const secret of [a.ticket.split('.')[1]!, 'at-sub-carol', 'rt-sub-carol']) expect(out.stdout).not.toContain(secret);

    const json = await run(['list', '--user', 'sub-carol', '--config', configFile, '--json']);
    const parsed = JSON.parse(json.stdout) as { count: number; sessions: { id: string; sub?: string }[] };
    expect(parsed.count).toBe(2);
    expect(parsed.sessions.map((s) => s.id).sort()).toEqual([a.id, b.id].sort());
    expect(parsed.sessions.every((s) => s.sub === 'sub-carol')).toBe(true);
  });

  it('revokes every session of a user, found by email or subject, and says how many', async () => {
    const a = await signedIn('sub-dave', 'dave@example.com');
    const b = await signedIn('sub-dave', 'dave@example.com');
    const other = await signedIn('sub-erin', 'erin@example.com');
    const out = await run(['revoke', '--user', 'dave@example.com', '--config', configFile]);
    expect(out).toMatchObject({ exitCode: 0, stdout: 'revoked 2 sessions of dave@example.com\n' });
    expect(await manager.load(a.ticket)).toBeUndefined();
    expect(await manager.load(b.ticket)).toBeUndefined();
    expect(await manager.load(other.ticket)).toBeDefined();
    const again = await run(['revoke', '--user', 'sub-dave', '--config', configFile, '--json']);
    expect(JSON.parse(again.stdout)).toMatchObject({ action: 'revoke_user', count: 0 });
  });

  it('revokes one session by id, and fails (exit 1) for a session that is gone', async () => {
    const a = await signedIn('sub-frank', 'frank@example.com');
    const b = await signedIn('sub-frank', 'frank@example.com');
    const out = await run(['revoke', '--session', a.id, '--config', configFile]);
    expect(out).toMatchObject({ exitCode: 0, stdout: `revoked session ${a.id}\n` });
    expect(await manager.load(a.ticket)).toBeUndefined();
    expect(await manager.load(b.ticket)).toBeDefined();
    expect((await run(['revoke', '--session', a.id, '--config', configFile])).exitCode).toBe(1);
    const malformed = await run(['revoke', '--session', 'not-an-id', '--config', configFile]);
    expect(malformed.exitCode).toBe(2);
    expect(malformed.stderr).toContain('not a session id');
  });

  it('revokes a session whose id starts with a dash (one in 64 do), given as --session ID', async () => {
    let dashed: Awaited<ReturnType<typeof signedIn>> | undefined;
    for (let tries = 0; !dashed && tries < 2000; tries++) {
      const s = await signedIn('sub-dash', 'dash@example.com');
      if (s.id.startsWith('-')) dashed = s;
    }
    expect(dashed).toBeDefined();
    const out = await run(['revoke', '--session', dashed!.id, '--config', configFile]);
    expect(out).toMatchObject({ exitCode: 0, stdout: `revoked session ${dashed!.id}\n` });
    expect(await manager.load(dashed!.ticket)).toBeUndefined();
    await run(['revoke', '--user', 'sub-dash', '--config', configFile]);
  });

  it('revokes every session only when confirmed', async () => {
    const a = await signedIn('sub-gina', 'gina@example.com');
    const noTerminal = await run(['revoke', '--all', '--config', configFile]);
    expect(noTerminal.exitCode).toBe(2);
    expect(noTerminal.stderr).toContain('--yes');
    const declined = await run(['revoke', '--all', '--config', configFile], async () => false);
    expect(declined.exitCode).toBe(1);
    expect(await manager.load(a.ticket)).toBeDefined();
    let asked = '';
    const confirmed = await run(['revoke', '--all', '--config', configFile, '--json'], async (q) => ((asked = q), true));
    expect(asked).toContain('EVERY session');
    expect(JSON.parse(confirmed.stdout)).toMatchObject({ action: 'revoke_all' });
    expect(JSON.parse(confirmed.stdout).count).toBeGreaterThanOrEqual(1);
    expect(await manager.load(a.ticket)).toBeUndefined();
    const b = await signedIn('sub-gina', 'gina@example.com');
    expect((await run(['revoke', '--all', '--yes', '--config', configFile])).exitCode).toBe(0);
    expect(await manager.load(b.ticket)).toBeUndefined();
  });

  it('explains that an in-memory store lives in the running process and points to the admin API', async () => {
    const out = await run(['list', '--user', 'alice@example.com', '--config', writeConfig(configYaml('memory'))]);
    expect(out.exitCode).toBe(1);
    expect(out.stderr).toContain('session.store is "memory"');
    expect(out.stderr).toContain("http://127.0.0.1:9191/admin/sessions?user=alice%40example.com");
  });

  it('rejects wrong usage with exit code 2 and the usage text', async () => {
    for (const args of [['list', '--config', configFile], ['revoke', '--user', 'x', '--all', '--config', configFile], ['frobnicate'], ['list', '--user', 'x', '--bogus']]) {
      const out = await run(args);
      expect(out.exitCode).toBe(2);
      expect(out.stderr).toContain('Usage:');
    }
    expect((await run(['list', '--user', 'x'])).stderr).toContain('--config FILE');
  });

  it('works through the real command line, reading the file named by PORTCULLIS_CONFIG', async () => {
    const a = await signedIn('sub-hank', 'hank@example.com');
    const cli = join(import.meta.dirname, '..', '..', 'src', 'cli.ts');
    const { stdout } = await promisify(execFile)(process.execPath, [cli, 'sessions', 'revoke', '--user', 'hank@example.com'], {
      env: { ...process.env, PORTCULLIS_CONFIG: configFile },
      timeout: 15_000,
    });
    expect(stdout).toBe('revoked 1 session of hank@example.com\n');
    expect(await manager.load(a.ticket)).toBeUndefined();
  });
});
