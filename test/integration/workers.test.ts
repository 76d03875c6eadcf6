// `workers: 2` through the real entry point: `node src/cli.ts start` forks two
// workers that share the sockets and the Redis sessions; both serve, SIGHUP
// reloads both, a dead worker is replaced, SIGTERM stops everything. The workers'
// log lines reach the primary's stdout whole, through the primary.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import http from 'node:http';
import { appendFileSync, closeSync, mkdirSync, openSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startDemoIdp, type DemoIdp } from '../../src/demo/idp.ts';
import { Browser } from '../helpers/browser.ts';
import { alice, defaultRoutes, freePort } from '../helpers/login-env.ts';
import { SHARED_REDIS_URL, deleteKeysWithPrefix, uniquePrefix } from '../helpers/redis.ts';
import { startUpstream, tempDir, writeConfig, type Upstream } from '../helpers/servers.ts';

const cli = join(import.meta.dirname, '..', '..', 'src', 'cli.ts');
const prefix = uniquePrefix('workers');
let idp: DemoIdp;
let upstream: Upstream;
let primary: ChildProcess;
let output = '';
/** the primary's stdout alone: its log lines and, relayed, its workers' */
let stdout = '';
let port: number;
let opsPort: number;
/** the file Portcullis is given: a symlink into another directory, so only SIGHUP (not the file watcher) sees an edit */
let configLink: string;
let configTarget: string;

beforeAll(async () => {
  port = await freePort();
  opsPort = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const clientSecret = randomBytes(16).toString('hex');
  idp = await startDemoIdp({
    clients: [{ client_id: 'portcullis', client_secret: clientSecret, redirect_uris: [`${publicUrl}/.portcullis/callback`] }],
    log: { warn: () => {}, error: () => {} },
  });
  upstream = await startUpstream();
  const dir = tempDir('portcullis-workers-');
  const signingKey = join(dir, 'assertion.pem');
  writeFileSync(signingKey, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
  mkdirSync(join(dir, 'real'));
  mkdirSync(join(dir, 'etc'));
  configTarget = join(dir, 'real', 'portcullis.yaml');
  configLink = join(dir, 'etc', 'portcullis.yaml');
  writeFileSync(
    configTarget,
    `workers: 2
listen: { address: "127.0.0.1:${port}" }
ops: { address: "127.0.0.1:${opsPort}" }
public_url: ${publicUrl}
identity_provider: { issuer: ${idp.issuer}, client_id: portcullis, client_secret: ${clientSecret}, insecure_allow_http: true }
cookie: { secret: ${randomBytes(32).toString('base64url')}, insecure_allow_http: true }
identity: { assertion: { signing_keys: [${signingKey}] } }
session: { store: redis }
redis: { url: "${SHARED_REDIS_URL}", key_prefix: "${prefix}" }
limits: { shutdown_timeout: 2s }
log: { access_log: false }
routes:${defaultRoutes.replaceAll('${UPSTREAM}', upstream.url)}
`,
  );
  symlinkSync(configTarget, configLink);
  primary = await startPrimary('pipe');
}, 70_000);

/** Start Portcullis with its stdout a pipe read into `stdout` or the given file descriptor; resolves once both workers serve. */
async function startPrimary(stdoutTo: 'pipe' | number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [cli, 'start', '--config', configLink], { stdio: ['ignore', stdoutTo, 'pipe'] });
  child.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
    stdout += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const started = () => (typeof stdoutTo === 'number' ? readFileSync(`/proc/self/fd/${stdoutTo}`, 'utf8') : output).includes('2 workers serving');
  const deadline = Date.now() + 60_000;
  while (!started()) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`Portcullis with workers did not start:\n${output}`);
    await sleep(50);
  }
  for (let i = 0; i < 100 && (await get(opsPort, '/readyz')).status !== 200; i++) await sleep(50);
  return child;
}

/** Sign alice in and send six requests with a path of 5,000 characters, on fresh connections, so both workers log long decision lines. */
async function longRequests(): Promise<string> {
  const browser = new Browser(idp.issuer);
  expect((await browser.signIn(`http://app.test:${port}/`, alice)).status).toBe(200);
  const cookie = browser.jar.header(new URL(`http://app.test:${port}/`))!;
  const longPath = '/' + 'long-path-'.repeat(500);
  for (let i = 0; i < 6; i++) expect((await get(port, `${longPath}?${i}`, { host: 'app.test', cookie, accept: 'application/json' })).status).toBe(200);
  return longPath;
}

/** Every line is JSON (nothing cut or mixed); the decision lines of the long requests; the workers' last lines. */
function checkLog(text: string, longPath: string): void {
  const lines = text.split('\n').filter(Boolean);
  for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
  const records = lines.map((l) => JSON.parse(l) as { type?: string; path?: string; msg?: string });
  const decisions = records.filter((r) => r.type === 'decision' && r.path === longPath);
  expect(decisions).toHaveLength(6);
  expect(JSON.stringify(decisions[0]).length).toBeGreaterThan(5000);
}

afterAll(async () => {
  if (primary && primary.exitCode === null && primary.signalCode === null) {
    primary.kill('SIGKILL');
    // The workers follow their primary out (node:cluster exits a worker whose primary is gone).
  }
  await upstream?.close();
  await idp?.close();
  await deleteKeysWithPrefix(prefix);
});

/** One request on a fresh connection, so node:cluster hands each one to the next worker. */
function get(toPort: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: toPort, path, headers, agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** worker pid -> requests it answered, from the aggregated /metrics */
async function workerRequests(): Promise<Map<number, number>> {
  const { body } = await get(opsPort, '/metrics');
  const out = new Map<number, number>();
  for (const m of body.matchAll(/^portcullis_worker_requests_total\{[^}]*pid="(\d+)"[^}]*\} (\d+)$/gm)) out.set(Number(m[1]), Number(m[2]));
  return out;
}

async function configInfo(): Promise<Map<string, number>> {
  const { body } = await get(opsPort, '/metrics');
  return new Map([...body.matchAll(/^portcullis_config_info\{checksum="([0-9a-f]+)"\} (\d+)$/gm)].map((m) => [m[1]!, Number(m[2])]));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('workers: 2', () => {
  it('serves through two worker processes sharing the sockets and the sessions', async () => {
    const browser = new Browser(idp.issuer);
    expect((await browser.signIn(`http://app.test:${port}/`, alice)).status).toBe(200);
    const cookie = browser.jar.header(new URL(`http://app.test:${port}/`))!;
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await get(port, '/page', { host: 'app.test', cookie, accept: 'application/json' })).status);
    expect(statuses.every((s) => s === 200)).toBe(true);

    const perWorker = await workerRequests();
    expect(perWorker.size).toBe(2);
    expect(perWorker.has(primary.pid!)).toBe(false);
    // Each worker answered some of the session requests: the session is in Redis, not in one worker.
    for (const count of perWorker.values()) expect(count).toBeGreaterThan(0);
  });

  it('reloads every worker on SIGHUP', async () => {
    const before = await configInfo();
    expect([...before.values()]).toEqual([2]);
    appendFileSync(configTarget, '# edited: reload me\n');
    primary.kill('SIGHUP');
    let after = before;
    for (let i = 0; i < 100; i++) {
      after = await configInfo();
      if (after.size === 1 && !before.has([...after.keys()][0]!)) break;
      await sleep(100);
    }
    // One new checksum, reported by both workers; the old one by none.
    expect(after.size).toBe(1);
    expect(before.has([...after.keys()][0]!)).toBe(false);
    expect([...after.values()]).toEqual([2]);
  });

  it('replaces a worker that dies', async () => {
    const [victim] = [...(await workerRequests()).keys()];
    process.kill(victim!, 'SIGKILL');
    // A connection node:cluster hands to the worker in the instant it dies is lost with it; wait until the primary knows.
    for (let i = 0; i < 100 && !output.includes(`"pid":${victim},"code":null,"signal":"SIGKILL","msg":"worker died"`); i++) await sleep(50);
    let pids: number[] = [];
    for (let i = 0; i < 100; i++) {
      pids = [...(await workerRequests()).keys()];
      if (pids.length === 2 && !pids.includes(victim!)) break;
      await sleep(100);
    }
    expect(pids).toHaveLength(2);
    expect(pids).not.toContain(victim);
    expect((await get(port, '/', { host: 'public.test' })).status).toBe(200);
  });

  it('passes every worker\'s log lines on whole through its stdout pipe, one longer than 4 KiB included', async () => {
    const longPath = await longRequests();
    for (let i = 0; i < 50 && stdout.split(longPath).length < 7; i++) await sleep(50);
    checkLog(stdout, longPath);
  });

  it('stops the primary and every worker on SIGTERM', async () => {
    const workers = [...(await workerRequests()).keys()];
    expect(workers).toHaveLength(2);
    const exited = new Promise<number | null>((resolve) => primary.once('exit', (code) => resolve(code)));
    primary.kill('SIGTERM');
    // shutdown_timeout is 2 s; the bound leaves room for a slow machine.
    const code = await Promise.race([exited, sleep(15_000).then(() => 'still running' as const)]);
    expect(code).toBe(0);
    for (let i = 0; i < 20 && workers.some(alive); i++) await sleep(100);
    expect(workers.filter(alive)).toEqual([]);
    expect(output).toContain('every worker stopped');
    // Each worker's last line came through the primary before the primary's own last line.
    const last = stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg: string });
    expect(last.filter((l) => l.msg === 'stopped')).toHaveLength(2);
    expect(last.findLastIndex((l) => l.msg === 'stopped')).toBeLessThan(last.findIndex((l) => l.msg === 'every worker stopped'));
  });
});

describe('workers: 2 with stdout in a regular file', () => {
  it('lets both workers append their batches to the file themselves, every line whole', async () => {
    const file = join(tempDir('portcullis-workers-log-'), 'portcullis.log');
    const fd = openSync(file, 'a');
    try {
      primary = await startPrimary(fd);
    } finally {
      closeSync(fd);
    }
    const longPath = await longRequests();
    const exited = new Promise<number | null>((resolve) => primary.once('exit', (code) => resolve(code)));
    primary.kill('SIGTERM');
    expect(await Promise.race([exited, sleep(15_000).then(() => 'still running' as const)])).toBe(0);
    const text = readFileSync(file, 'utf8');
    checkLog(text, longPath);
    expect(text.split('\n').filter((l) => l.includes('"msg":"stopped"'))).toHaveLength(2);
  });
});

describe('workers configuration', () => {
  it('refuses several workers with in-memory sessions, a random cookie secret or generated signing keys', () => {
    const file = writeConfig(`workers: 2
listen: { address: "127.0.0.1:0" }
public_url: http://127.0.0.1:1
identity_provider: { issuer: http://127.0.0.1:2, client_id: portcullis, client_secret: s, insecure_allow_http: true }
cookie: { insecure_allow_http: true }
routes:
  - { name: app, from: http://app.test, to: http://127.0.0.1:9 }
`);
    const run = spawnSync(process.execPath, [cli, 'check', file], { encoding: 'utf8', timeout: 15_000 });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('workers: workers: 2 needs session.store: redis');
    expect(run.stderr).toContain('cookie.secret: workers: 2 needs cookie.secret');
    expect(run.stderr).toContain('identity.assertion.signing_keys: workers: 2 needs identity.assertion.signing_keys');
  });
});
