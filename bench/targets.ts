// The rows of the benchmark. Each target starts what it needs as separate processes and
// says where to send load (URL, Host and any other headers) and which processes to measure.
// To add a row, add a Target here and put it in `targets` at the end of the file.
import { closeSync, createReadStream, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportPKCS8, exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { Redis } from 'ioredis';
import { request } from 'undici';
import type { StdioOptions } from 'node:child_process';
import { processTree, startProcess, stderrOf, stopProcess, waitForPortLine, type Started } from './processes.ts';
import { freePort } from './ports.ts';
import { clientIdFor, signIn, type BenchIdentity } from './identity.ts';
import { crowdSize, seedCrowd } from './crowd.ts';
import { loadTool } from './load.ts';
import type { BenchRedis } from './redis.ts';
import { BENCH_HOST, protectedRouteConfig, publicRouteConfig, type FullPolicy, type ProtectedRow } from './portcullis-config.ts';
import { NGINX, nginxConfig, nginxInstalled } from './nginx.ts';
import { SESSION_COOKIE } from './nginx-auth-check.ts';
import { NODE_FLAGS } from '../src/runtime.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
/** BENCH_PORTCULLIS_CLI points the Portcullis rows at another checkout's src/cli.ts, for before/after comparisons. */
const PORTCULLIS_CLI = process.env.BENCH_PORTCULLIS_CLI ?? join(REPO, 'src/cli.ts');

export interface BenchContext {
  /** the shared upstream every row ends at */
  readonly upstream: { readonly url: string; readonly pid: number };
  /** a fresh temp directory for configs and logs */
  readonly workDir: string;
  /** where every Portcullis writes its log (BENCH_LOG, e.g. /dev/null); default: one file per row in workDir */
  readonly logPath?: string;
  /**
   * BENCH_LOG_PIPE: Portcullis's stdout is a pipe that `cat` copies into the log file, as under
   * Docker or systemd, instead of the file itself (cat's CPU time counts under "others")
   */
  readonly logPipe?: boolean;
  /** when set, Node processes under test run with --cpu-prof and write their profiles here */
  readonly profileDir?: string;
  /** the identity provider, started when a selected row needs sign-in */
  readonly identity?: BenchIdentity;
  /** the bench's private Redis, started when a selected row needs it */
  readonly redis?: BenchRedis;
  /** the Portcullis CLI the rows start (default: BENCH_PORTCULLIS_CLI, else this checkout's) */
  readonly portcullisCli?: string;
  /** appended to a row's file names (config, keys, log), so a twin of the row has its own */
  readonly fileSuffix?: string;
  /**
   * A command the Node processes under test run inside, such as valgrind with its options
   * (bench/instructions.ts); the process started is then that command, with the same pid.
   */
  readonly wrapper?: readonly string[];
  /** how long a row may take to start and sign in (default 30 s; a wrapper such as valgrind needs more) */
  readonly startTimeoutMs?: number;
  /** more flags for the Node processes under test, after BENCH_NODE_FLAGS */
  readonly nodeFlags?: readonly string[];
  /** redis.command_timeout for the rows with the session in Redis, such as "30s" (default Portcullis's own) */
  readonly redisCommandTimeout?: string;
}

export interface RunningTarget {
  readonly url: string;
  readonly host: string;
  /** more headers for every request: the session cookie, a device-posture token */
  readonly headers?: Readonly<Record<string, string>>;
  /** a row with many users: their Cookie header values, one per line, sent in turn by the load tool */
  readonly cookieFile?: string;
  /** the main process; the row's CPU and memory are those of it and all its descendants */
  readonly pid: number;
  /** other processes that belong to this row (nginx's session check), measured with it */
  readonly extraPids?: readonly number[];
  /** whether the row talks to Redis, so commands per request mean something */
  readonly usesRedis: boolean;
  /** Portcullis rows: the ops listener (/metrics), e.g. http://127.0.0.1:PORT */
  readonly opsUrl?: string;
  stop(): Promise<void>;
  /** facts to record once the target has stopped, e.g. how many access log lines it wrote */
  facts?(): Promise<Record<string, unknown>>;
}

export interface Target {
  /** stable id, used in BENCH_TARGETS and results/latest.json */
  readonly id: string;
  /** the row's label in the table */
  readonly label: string;
  /** what the run must start before this row: the identity provider, Redis */
  readonly needs?: { readonly identity?: boolean; readonly redis?: boolean };
  /** the row runs Portcullis (src/cli.ts), so BENCH_BASELINE_CLI can give it a twin running another checkout */
  readonly runsPortcullis?: boolean;
  /** false when the row cannot run on this machine (nginx missing); it is then left out and said so */
  available?(): boolean;
  start(ctx: BenchContext): Promise<RunningTarget>;
}

export const direct: Target = {
  id: 'direct',
  label: 'direct upstream',
  async start(ctx) {
    return { url: ctx.upstream.url, host: BENCH_HOST, pid: ctx.upstream.pid, usesRedis: false, stop: async () => {} };
  },
};

export const bareUndici: Target = {
  id: 'undici',
  label: 'bare undici forwarder',
  async start(ctx) {
    const proc = startNode(ctx, 'reference forwarder', [...NODE_FLAGS, ...extraNodeFlags(ctx, 'undici'), join(REPO, 'bench/reference-forwarder.ts'), ctx.upstream.url]);
    const port = await waitForPortLine(proc, ctx.startTimeoutMs);
    return { url: `http://127.0.0.1:${port}/`, host: BENCH_HOST, pid: proc.pid, usesRedis: false, stop: () => stopProcess(proc) };
  },
};

export const portcullisPublic: Target = {
  id: 'portcullis-public',
  label: 'portcullis public route',
  runsPortcullis: true,
  async start(ctx) {
    const [port, opsPort] = [await freePort(), await freePort()];
    const name = fileName(ctx, 'portcullis-public');
    const proc = startPortcullis(ctx, name, publicRouteConfig({ port, opsPort }, ctx.upstream.url));
    const url = `http://127.0.0.1:${port}/`;
    await waitUntilServing(proc, url, BENCH_HOST, {}, ctx.startTimeoutMs);
    return { url, host: BENCH_HOST, pid: proc.pid, usesRedis: false, opsUrl: `http://127.0.0.1:${opsPort}`, stop: () => stopProcess(proc), facts: accessLogFacts(logFileFor(ctx, name)) };
  },
};

interface ProtectedVariant {
  readonly id: string;
  readonly label: string;
  readonly store: 'memory' | 'redis';
  readonly fullPolicy?: boolean;
  readonly workers?: 'auto';
  readonly sessionCache?: string;
  /** this many signed-in users (bench/crowd.ts), each request from the next in turn; default alice alone */
  readonly users?: number;
}

/** A protected route: start Portcullis, sign alice in through it, and send her session cookie with every request. */
function protectedTarget(v: ProtectedVariant): Target {
  return {
    id: v.id,
    label: v.label,
    runsPortcullis: true,
    needs: { identity: true, redis: v.store === 'redis' },
    // Only wrk sends each request with another user's cookie.
    ...(v.users ? { available: () => loadTool() === 'wrk' } : {}),
    async start(ctx) {
      const identity = ctx.identity!;
      const port = identity.takePort();
      const opsPort = await freePort();
      const keyPrefix = `portcullis-bench:${randomBytes(4).toString('hex')}:`;
      const session: ProtectedRow['session'] = v.store === 'redis' ? { store: 'redis', url: ctx.redis!.url, keyPrefix } : { store: 'memory' };
      const name = fileName(ctx, v.id);
      const posture = v.fullPolicy ? await postureFixture(ctx.workDir, name) : undefined;
      const row: ProtectedRow = {
        session,
        policy: posture?.policy ?? 'authenticated',
        ...(v.workers ? { workers: v.workers } : {}),
        ...(v.sessionCache ? { sessionCache: v.sessionCache } : {}),
        ...(ctx.redisCommandTimeout ? { redisCommandTimeout: ctx.redisCommandTimeout } : {}),
      };
      const signInSettings = {
        issuer: identity.issuer,
        clientId: clientIdFor(port),
        clientSecret: identity.clientSecret,
        cookieSecret: randomBytes(32).toString('base64url'),
        signingKeyFile: await signingKeyFile(ctx.workDir, name),
      };
      const proc = startPortcullis(ctx, name, protectedRouteConfig({ port, opsPort }, ctx.upstream.url, signInSettings, row));
      const stop = async () => {
        await stopProcess(proc);
        identity.releasePort(port);
        if (v.store === 'redis') await ctx.redis!.deleteKeysWithPrefix(keyPrefix).catch(() => {});
      };
      try {
        await waitUntilReady(proc, `http://127.0.0.1:${opsPort}/readyz`, ctx.startTimeoutMs);
        const cookie = await signIn(`http://${BENCH_HOST}:${port}/`, identity.issuer);
        const headers: Record<string, string> = { cookie, ...(posture ? { 'x-device-posture': posture.token } : {}) };
        let cookieFile: string | undefined;
        if (v.users) {
          if (v.store !== 'redis' || posture) throw new Error(`bench: ${v.id}: a crowd is seeded in Redis, and device posture is alice's alone`);
          cookieFile = join(ctx.workDir, `${name}-cookies.txt`);
          await seedCrowd({ redisUrl: ctx.redis!.url, keyPrefix, cookieHeader: cookie, users: v.users, file: cookieFile });
        }
        const logFile = logFileFor(ctx, name);
        return {
          url: `http://127.0.0.1:${port}/`,
          host: BENCH_HOST,
          headers,
          ...(cookieFile ? { cookieFile } : {}),
          pid: proc.pid,
          usesRedis: v.store === 'redis',
          opsUrl: `http://127.0.0.1:${opsPort}`,
          stop,
          facts: accessLogFacts(logFile, v.users),
        };
      } catch (err) {
        await stop();
        throw err;
      }
    },
  };
}

// Every row runs Portcullis's defaults (session.cache_ttl: 1s) unless its label says otherwise;
// the "no session cache" rows show what opening the session on every request costs.
export const protectedMemory = protectedTarget({ id: 'protected-memory', label: 'portcullis protected, session in memory', store: 'memory' });
export const protectedRedis = protectedTarget({ id: 'protected-redis', label: 'portcullis protected, session in Redis', store: 'redis' });
export const fullPolicy = protectedTarget({ id: 'full-policy', label: 'portcullis full policy + posture, Redis', store: 'redis', fullPolicy: true });
export const uncachedRedis = protectedTarget({ id: 'protected-redis-nocache', label: 'portcullis protected, Redis, no session cache', store: 'redis', sessionCache: '0s' });
export const uncachedFullPolicy = protectedTarget({ id: 'full-policy-nocache', label: 'portcullis full policy + posture, Redis, no cache', store: 'redis', fullPolicy: true, sessionCache: '0s' });
const CROWD = crowdSize();
export const crowdRedis = protectedTarget({ id: 'protected-redis-crowd', label: `portcullis protected, Redis, ${CROWD.toLocaleString('en-US')} users`, store: 'redis', users: CROWD });
export const workersAuto = protectedTarget({ id: 'workers-auto', label: 'portcullis workers: auto, full policy, Redis', store: 'redis', fullPolicy: true, workers: 'auto' });

/** nginx as a plain reverse proxy, or with auth_request to a Redis-backed session check. */
function nginxTarget(id: string, label: string, withAuth: boolean): Target {
  return {
    id,
    label,
    needs: { redis: withAuth },
    available: nginxInstalled,
    async start(ctx) {
      const dir = join(ctx.workDir, id);
      mkdirSync(dir, { recursive: true });
      const started: Started[] = [];
      const keyPrefix = `nginx-bench:${randomBytes(4).toString('hex')}:`;
      const stop = async () => {
        for (const p of started.reverse()) await stopProcess(p);
        if (withAuth) await ctx.redis!.deleteKeysWithPrefix(keyPrefix).catch(() => {});
      };
      try {
        let authCheckPort: number | undefined;
        let headers: Record<string, string> | undefined;
        if (withAuth) {
          const check = startProcess('nginx session check', process.execPath, [...NODE_FLAGS, join(REPO, 'bench/nginx-auth-check.ts'), ctx.redis!.url, keyPrefix]);
          started.push(check);
          authCheckPort = await waitForPortLine(check);
          const ticket = randomBytes(32).toString('base64url');
          await seedSession(ctx.redis!.url, keyPrefix + ticket);
          headers = { cookie: `${SESSION_COOKIE}=${ticket}` };
        }
        const port = await freePort();
        const conf = join(dir, 'nginx.conf');
        writeFileSync(conf, nginxConfig({ dir, port, upstreamUrl: ctx.upstream.url, authCheckPort, asRoot: process.getuid?.() === 0 }));
        const nginx = startProcess('nginx', NGINX, ['-c', conf, '-p', dir]);
        started.push(nginx);
        const url = `http://127.0.0.1:${port}/`;
        await waitUntilServing(nginx, url, BENCH_HOST, headers);
        return {
          url,
          host: BENCH_HOST,
          headers,
          pid: nginx.pid,
          extraPids: started.filter((p) => p !== nginx).map((p) => p.pid),
          usesRedis: withAuth,
          stop,
        };
      } catch (err) {
        await stop();
        throw err;
      }
    },
  };
}

export const nginxPlain = nginxTarget('nginx', 'nginx reverse proxy (1 worker)', false);
export const nginxAuthRequest = nginxTarget('nginx-auth-request', 'nginx auth_request + Redis session check', true);

/**
 * The same row running another checkout's Portcullis (BENCH_BASELINE_CLI) or this one with
 * more Node flags (BENCH_BASELINE_NODE_FLAGS), or both: measured in turn with the row itself,
 * so both see the same minutes of a noisy machine.
 */
export function baselineTwin(target: Target, baseline: Baseline): Target {
  return {
    ...target,
    id: `${target.id}@baseline`,
    label: `${target.label} (baseline)`,
    start: (ctx) => target.start({ ...ctx, portcullisCli: baseline.cli ?? ctx.portcullisCli, nodeFlags: [...(ctx.nodeFlags ?? []), ...baseline.nodeFlags], fileSuffix: '-baseline' }),
  };
}

export interface Baseline {
  readonly cli: string | undefined;
  readonly nodeFlags: readonly string[];
}

/** What the twins run (BENCH_BASELINE_CLI, BENCH_BASELINE_NODE_FLAGS); undefined when there are none. */
export function baselineFromEnv(env: NodeJS.ProcessEnv = process.env): Baseline | undefined {
  const cli = env.BENCH_BASELINE_CLI || undefined;
  const nodeFlags = env.BENCH_BASELINE_NODE_FLAGS?.split(' ').filter(Boolean) ?? [];
  return cli || nodeFlags.length ? { cli, nodeFlags } : undefined;
}

/** Every row, in table order. "direct" and "nginx" are the references the others are compared with. */
export const targets: readonly Target[] = [direct, bareUndici, nginxPlain, portcullisPublic, protectedMemory, protectedRedis, fullPolicy, nginxAuthRequest, workersAuto, uncachedRedis, uncachedFullPolicy, crowdRedis];

/** Flags for a Node process under test: BENCH_NODE_FLAGS (such as --trace-gc), the context's, and --cpu-prof with BENCH_PROFILE. */
function extraNodeFlags(ctx: BenchContext, name: string): string[] {
  const extra = [...(process.env.BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? []), ...(ctx.nodeFlags ?? [])];
  return ctx.profileDir ? [...extra, '--cpu-prof', '--cpu-prof-dir', ctx.profileDir, '--cpu-prof-name', `${name}-${Date.now()}.cpuprofile`] : extra;
}

function startPortcullis(ctx: BenchContext, name: string, yaml: string): Started {
  const configFile = join(ctx.workDir, `${name}.yaml`);
  writeFileSync(configFile, yaml);
  // Portcullis logs JSON to stdout, as in production; the bench points stdout at a file, or
  // at a pipe into it.
  const logFd = openSync(logFileFor(ctx, name), 'a');
  const args = [...NODE_FLAGS, ...extraNodeFlags(ctx, name), ctx.portcullisCli ?? PORTCULLIS_CLI, 'start', '--config', configFile];
  try {
    if (!ctx.logPipe) return startNode(ctx, name, args, ['ignore', logFd, 'pipe'], REPO);
    const reader = startProcess(`${name} log reader`, 'cat', [], ['pipe', logFd, 'ignore']);
    try {
      const started = startNode(ctx, name, args, ['ignore', reader.child.stdin!, 'pipe'], REPO);
      return { ...started, logReader: reader.child };
    } finally {
      // Portcullis holds the pipe's write end now; cat sees its end when Portcullis exits.
      reader.child.stdin!.destroy();
    }
  } finally {
    closeSync(logFd);
  }
}

/** A Node process under test, inside ctx.wrapper when there is one. */
function startNode(ctx: BenchContext, name: string, args: readonly string[], stdio?: StdioOptions, cwd?: string): Started {
  const [command, ...wrapperArgs] = [...(ctx.wrapper ?? []), process.execPath];
  return startProcess(name, command!, [...wrapperArgs, ...args], stdio, cwd);
}

/** The base name of a row's files in the work directory. */
function fileName(ctx: BenchContext, id: string): string {
  return id + (ctx.fileSuffix ?? '');
}

function logFileFor(ctx: BenchContext, name: string): string {
  return ctx.logPath ?? join(ctx.workDir, `${name}.log`);
}

/**
 * How many access lines the row wrote: each measured request must have one (checked in
 * run.ts). A crowd row also counts the users they name, which must be the whole crowd.
 */
function accessLogFacts(file: string, crowd?: number): () => Promise<Record<string, unknown>> {
  return async () => {
    if (file === '/dev/null') return { access_log: file };
    const counted = await countAccessLines(file, crowd !== undefined);
    return { access_log: file, access_log_lines: counted.lines, ...(crowd !== undefined ? { crowd_users: crowd, access_log_users: counted.users } : {}) };
  };
}

/** An EC P-256 key for identity.assertion.signing_keys: workers need one shared key, and every row gets the same setup. */
async function signingKeyFile(dir: string, name: string): Promise<string> {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const file = join(dir, `${name}-assertion.pem`);
  writeFileSync(file, await exportPKCS8(privateKey), { mode: 0o600 });
  return file;
}

/**
 * A stand-in device-trust service: a key pair made for this run, its public key as the
 * static posture key, and one token for alice's managed laptop. iat is now and max_age 1h,
 * so the token stays fresh for any run; every request still has it checked (signature
 * through Portcullis's verification cache, freshness, user, session binding).
 */
async function postureFixture(dir: string, name: string): Promise<{ policy: FullPolicy; token: string }> {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const postureKeyFile = join(dir, `${name}-posture.pub.pem`);
  writeFileSync(postureKeyFile, await exportSPKI(publicKey));
  const policy: FullPolicy = { postureKeyFile, postureIssuer: 'https://mdm.bench.example', postureAudience: 'portcullis' };
  const now = Math.floor(Date.now() / 1000);
  const token = await new SignJWT({ device_id: 'bench-laptop-1', managed: true, disk_encrypted: true, os: 'linux', os_version: '6.1' })
    .setProtectedHeader({ alg: 'ES256' })
    .setSubject('alice')
    .setIssuer(policy.postureIssuer)
    .setAudience(policy.postureAudience)
    .setIssuedAt(now)
    .setExpirationTime(now + 4 * 3600)
    .sign(privateKey);
  return { policy, token };
}

/** One session for the nginx check, about the size of an oauth2-proxy session (it holds the tokens too). */
async function seedSession(redisUrl: string, key: string): Promise<void> {
  const client = new Redis(redisUrl, { lazyConnect: true });
  try {
    await client.connect();
    await client.set(key, randomBytes(2048), 'PX', 4 * 3600 * 1000);
  } finally {
    client.disconnect();
  }
}

/** Wait until the process answers at url (any status): a public route needs nothing else. */
async function waitUntilServing(proc: Started, url: string, host: string, headers: Record<string, string> = {}, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null) throw new Error(`${proc.name} exited with ${proc.child.exitCode} before serving:\n${stderrOf(proc)}`);
    try {
      const res = await request(url, { headers: { host, ...headers } });
      await res.body.dump();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${proc.name} did not answer on ${url} within ${timeoutMs} ms:\n${stderrOf(proc)}`);
}

/** Wait for /readyz to say 200: OIDC discovery and the Redis connection happen after the listener opens. */
async function waitUntilReady(proc: Started, readyUrl: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null) throw new Error(`${proc.name} exited with ${proc.child.exitCode} before it was ready:\n${stderrOf(proc)}`);
    try {
      const res = await request(readyUrl);
      last = `HTTP ${res.statusCode}: ${(await res.body.text()).slice(0, 200)}`;
      if (res.statusCode === 200) return;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${proc.name} was not ready at ${readyUrl} within ${timeoutMs} ms (${last}):\n${stderrOf(proc)}`);
}

async function countAccessLines(file: string, withUsers: boolean): Promise<{ lines: number; users: number }> {
  let count = 0;
  const users = new Set<string>();
  let carry = '';
  for await (const chunk of createReadStream(file, { encoding: 'utf8' })) {
    const lines = (carry + chunk).split('\n');
    carry = lines.pop()!;
    for (const line of lines) {
      if (!line.includes('"type":"access"')) continue;
      count++;
      if (withUsers) {
        const user = /"user":"([^"]*)"/.exec(line)?.[1];
        if (user !== undefined) users.add(user);
      }
    }
  }
  return { lines: count, users: users.size };
}

/** How many processes a row's measurement covers right now. */
export function measuredPids(run: RunningTarget): number[] {
  return [...processTree(run.pid), ...(run.extraPids ?? []).flatMap(processTree)];
}
