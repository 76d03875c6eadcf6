// npm run bench:instructions: CPU instructions per request, counted by valgrind's callgrind.
// On a shared 2-core machine the same row's CPU µs per request varies by up to 2x between
// runs; an instruction count does not care what else the machine is doing, so a change of
// a few percent in Portcullis's own work shows up here when it is lost in npm run bench's noise.
//
// Each selected row (default: the bare undici forwarder, the public route, the protected route
// with the session in Redis, and the full policy) runs its Node process under
// `valgrind --tool=callgrind` (about 100x slower than natively) with V8's --single-threaded, so
// background compiler and GC threads cannot make the count depend on timing. After a warm-up
// at full speed, long enough for V8 to optimize the hot path, requests are sent at two fixed
// rates (RATES, default 10 and 20 per second), N of them each, counters zeroed before and
// dumped after each window. A process also works per second rather than per request (timers,
// the log flush, the session cache reading each session again after at most a second), and
// under valgrind a second holds a few dozen requests rather than thousands; so each window is
// taken as instructions = N x per_request + seconds x per_second, and the two windows give both.
// Requests at these rates arrive one at a time (the 1-connection regime, no batching), and
// instructions are not time (a cache miss costs more than an add): compare rows and
// before/after a change with these, not with npm run bench's microseconds.
//
// Environment:
//   BENCH_TARGETS=a,b                 rows (ids from bench/targets.ts; Node rows only)
//   BENCH_INSTR_WARMUP=4000           requests at full speed before counting
//   BENCH_INSTR_REQUESTS=1000         requests counted per window
//   BENCH_INSTR_RATES=10,20           the two request rates, per second
//   BENCH_PORTCULLIS_CLI=...          another checkout's src/cli.ts, to compare before and after
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Pool, request } from 'undici';
import { installCleanup, startProcess, stopProcess, waitForPortLine, type Started } from './processes.ts';
import { targets, type BenchContext, type RunningTarget, type Target } from './targets.ts';
import { startBenchIdentity, type BenchIdentity } from './identity.ts';
import { startBenchRedis, type BenchRedis } from './redis.ts';
import { freePort } from './ports.ts';

const RESULTS = fileURLToPath(new URL('./results/', import.meta.url));
const NODE_ROWS = new Set(['undici', 'portcullis-public', 'protected-memory', 'protected-redis', 'full-policy', 'protected-redis-nocache', 'full-policy-nocache']);
const DEFAULT_ROWS = ['undici', 'portcullis-public', 'protected-redis', 'full-policy'];
/** connections for the warm-up at full speed */
const WARMUP_CONNECTIONS = 16;

function count(name: string, fallback: number): number {
  const text = process.env[name];
  const n = text === undefined || text === '' ? fallback : Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name}=${text}: expected a whole number, at least 1`);
  return n;
}

function rates(): [number, number] {
  const text = process.env.BENCH_INSTR_RATES ?? '10,20';
  const r = text.split(',').map(Number);
  if (r.length !== 2 || r.some((x) => !(x > 0)) || r[0] === r[1]) throw new Error(`BENCH_INSTR_RATES=${text}: expected two different rates per second, such as 10,20`);
  return [r[0]!, r[1]!];
}

const options = {
  warmup: count('BENCH_INSTR_WARMUP', 4000),
  requests: count('BENCH_INSTR_REQUESTS', 1000),
  rates: rates(),
  targetIds: process.env.BENCH_TARGETS?.split(',').map((s) => s.trim()).filter(Boolean) ?? DEFAULT_ROWS,
};

interface Window {
  readonly rate: number;
  readonly requests: number;
  readonly seconds: number;
  readonly instructions: number;
}

export interface InstructionRow {
  readonly id: string;
  readonly label: string;
  readonly windows: readonly Window[];
  /** the fit: instructions = requests x perRequest + seconds x perSecond */
  readonly perRequest: number;
  readonly perSecond: number;
}

/** Solve the two windows for the per-request and per-second parts. */
export function fit(a: Window, b: Window): { perRequest: number; perSecond: number } {
  // a.instructions = a.requests * r + a.seconds * s, and the same for b
  const det = a.requests * b.seconds - b.requests * a.seconds;
  const perRequest = (a.instructions * b.seconds - b.instructions * a.seconds) / det;
  const perSecond = (a.requests * b.instructions - b.requests * a.instructions) / det;
  return { perRequest, perSecond };
}

function callgrindAvailable(): boolean {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
    execFileSync('callgrind_control', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** callgrind_control returns once the running program has carried out the command. */
function callgrindControl(pid: number, flag: '--zero' | '--dump'): void {
  execFileSync('callgrind_control', [flag, String(pid)], { stdio: 'ignore', timeout: 60_000 });
}

/** The "totals:" instruction count of the newest dump of this pid. */
function lastDumpTotal(dir: string, pid: number): number {
  let best: { file: string; part: number } | undefined;
  for (const name of readdirSync(dir)) {
    // callgrind.PID at exit, callgrind.PID.N for the N-th dump on request
    const m = new RegExp(`^callgrind\\.${pid}(?:\\.(\\d+))?$`).exec(name);
    if (!m) continue;
    const part = Number(m[1] ?? 0);
    if (!best || part > best.part) best = { file: join(dir, name), part };
  }
  if (!best) throw new Error(`no callgrind dump for pid ${pid} in ${dir}`);
  const text = readFileSync(best.file, 'utf8');
  const m = /^(?:totals|summary):\s+(\d+)/m.exec(text);
  if (!m) throw new Error(`${best.file}: no totals line`);
  return Number(m[1]);
}

/**
 * `total` GETs: with `rate`, one every 1/rate seconds (each on a free connection), else as
 * fast as `connections` keep-alive connections allow. Throws on any answer that is not 200.
 */
async function load(run: RunningTarget, total: number, rate?: number): Promise<void> {
  const url = new URL(run.url);
  const pool = new Pool(url.origin, { connections: WARMUP_CONNECTIONS, headersTimeout: 120_000, bodyTimeout: 120_000 });
  const headers = { host: run.host, ...run.headers };
  let failure: string | undefined;
  const one = async () => {
    const res = await pool.request({ path: url.pathname, method: 'GET', headers });
    const body = await res.body.text();
    if (res.statusCode !== 200) failure ??= `HTTP ${res.statusCode}: ${body.slice(0, 300)}`;
  };
  try {
    if (rate === undefined) {
      let left = total;
      const loop = async () => {
        while (left-- > 0) await one();
      };
      await Promise.all(Array.from({ length: WARMUP_CONNECTIONS }, loop));
    } else {
      const started = performance.now();
      const sent: Promise<void>[] = [];
      for (let i = 0; i < total; i++) {
        const wait = started + (i * 1000) / rate - performance.now();
        if (wait > 0) await sleep(wait);
        sent.push(one());
      }
      await Promise.all(sent);
    }
  } finally {
    await pool.close();
  }
  if (failure) throw new Error(`${run.url}: an answer was not 200: ${failure}`);
}

async function upstreamServed(url: string): Promise<number> {
  const res = await request(new URL('/__bench/served', url));
  return ((await res.body.json()) as { served: number }).served;
}

async function countWindow(run: RunningTarget, upstreamUrl: string, dumpDir: string, rate: number): Promise<Window> {
  const servedBefore = await upstreamServed(upstreamUrl);
  callgrindControl(run.pid, '--zero');
  const started = performance.now();
  await load(run, options.requests, rate);
  const seconds = (performance.now() - started) / 1000;
  callgrindControl(run.pid, '--dump');
  const requests = (await upstreamServed(upstreamUrl)) - servedBefore;
  if (requests !== options.requests) throw new Error(`the upstream served ${requests} of ${options.requests} requests`);
  return { rate, requests, seconds, instructions: lastDumpTotal(dumpDir, run.pid) };
}

async function main(): Promise<void> {
  if (!callgrindAvailable()) throw new Error('valgrind with callgrind_control is needed (Debian: apt-get install valgrind)');
  const unknown = options.targetIds.filter((id) => !NODE_ROWS.has(id));
  if (unknown.length) throw new Error(`BENCH_TARGETS: ${unknown.join(', ')} not countable here; choose from ${[...NODE_ROWS].join(', ')}`);
  const selected: Target[] = options.targetIds.map((id) => targets.find((t) => t.id === id)!);
  const workDir = mkdtempSync(join(tmpdir(), 'portcullis-instr-'));
  const dumpDir = join(workDir, 'callgrind');
  mkdirSync(dumpDir);

  let upstream: Started | undefined;
  let redis: BenchRedis | undefined;
  let identity: BenchIdentity | undefined;
  let current: RunningTarget | undefined;
  const stopAll = async () => {
    await current?.stop().catch(() => {});
    current = undefined;
    await identity?.close().catch(() => {});
    await redis?.stop().catch(() => {});
    if (upstream) await stopProcess(upstream);
    upstream = undefined;
  };
  installCleanup(() => stopAll().then(() => rmSync(workDir, { recursive: true, force: true })));

  const rows: InstructionRow[] = [];
  try {
    upstream = startProcess('upstream', process.execPath, [fileURLToPath(new URL('./upstream.ts', import.meta.url))]);
    const upstreamUrl = `http://127.0.0.1:${await waitForPortLine(upstream)}/`;
    if (selected.some((t) => t.needs?.redis)) redis = await startBenchRedis(await freePort());
    const signIns = selected.filter((t) => t.needs?.identity).length;
    if (signIns > 0) identity = await startBenchIdentity(signIns);
    const ctx: BenchContext = {
      upstream: { url: upstreamUrl, pid: upstream.pid },
      workDir,
      logPath: process.env.BENCH_LOG,
      identity,
      redis,
      wrap: { command: ['valgrind', '--tool=callgrind', `--callgrind-out-file=${dumpDir}/callgrind.%p`, '--dump-instr=no', '--dump-line=no'], nodeFlags: ['--single-threaded'] },
      startTimeoutMs: 300_000,
      redisCommandTimeout: '30s',
    };
    // One row at a time: under valgrind each row wants a whole core.
    for (const target of selected) {
      console.error(`bench: starting ${target.id} under callgrind`);
      current = await target.start(ctx);
      const run = current;
      console.error(`bench: warm-up ${target.id} (${options.warmup} requests)`);
      await load(run, options.warmup);
      const windows: Window[] = [];
      for (const rate of options.rates) {
        const w = await countWindow(run, upstreamUrl, dumpDir, rate);
        windows.push(w);
        console.error(`bench: ${target.id} at ${rate}/s: ${w.requests} requests in ${w.seconds.toFixed(1)} s, ${Math.round(w.instructions / w.requests).toLocaleString('en')} instructions/request all in`);
      }
      const row = { id: target.id, label: target.label, windows, ...fit(windows[0]!, windows[1]!) };
      rows.push(row);
      console.error(`bench: ${target.id}: ${Math.round(row.perRequest).toLocaleString('en')} instructions/request + ${Math.round(row.perSecond).toLocaleString('en')}/s`);
      await run.stop();
      current = undefined;
    }
  } finally {
    await stopAll();
    if (process.env.BENCH_KEEP === '1') console.error(`bench: kept ${dumpDir}`);
    else rmSync(workDir, { recursive: true, force: true });
  }

  const base = rows.find((r) => r.id === 'portcullis-public');
  const k = (n: number) => Math.round(n / 1000).toLocaleString('en') + 'k';
  const lines = [
    `| row | instructions / request | × public route | per second, not per request | all in at ${options.rates[0]}/s, ${options.rates[1]}/s |`,
    '| --- | ---: | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r.label} | ${k(r.perRequest)} | ${base ? (r.perRequest / base.perRequest).toFixed(2) + '×' : '-'} | ${k(r.perSecond)} | ${r.windows.map((w) => k(w.instructions / w.requests)).join(', ')} |`),
  ];
  console.log(`\n${lines.join('\n')}\n`);
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(join(RESULTS, 'instructions.json'), JSON.stringify({ date: new Date().toISOString(), node: process.version, settings: options, rows }, null, 2) + '\n');
}

const isEntryPoint = import.meta.url === `file://${process.argv[1]}`;
if (isEntryPoint) {
  main().catch((err: Error) => {
    console.error(`bench: ${err.stack ?? err.message}`);
    process.exitCode = 1;
  });
}
