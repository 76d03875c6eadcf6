// npm run bench:instructions: CPU instructions per request, counted by valgrind's callgrind.
// On a shared 2-core machine the same row's CPU µs per request varies by up to 2x between
// runs; an instruction count does not care what else the machine is doing, so a change of
// a few percent in Portcullis's own work shows up here when it is lost in npm run bench's noise.
//
// Each selected row (default: the bare undici forwarder, the public route, the protected route
// with the session in Redis, and the full policy) runs its Node process under
// `valgrind --tool=callgrind`, about 50x slower than natively. After a warm-up long enough for
// V8 to optimize the hot path, the counters are zeroed (callgrind_control), wrk sends load for a
// fixed time, and the counters are dumped: instructions / requests the upstream served in
// between is the figure. Instructions are not time (a cache miss costs more than an add), and
// the slower process sees more requests per event-loop turn than it would natively, so use
// the ratios between rows and before/after a change, not the absolute numbers.
//
// Environment:
//   BENCH_TARGETS=a,b                 rows (ids from bench/targets.ts; Node rows only)
//   BENCH_INSTR_WARMUP=4000           requests before counting (V8 must have optimized the hot path)
//   BENCH_INSTR_REQUESTS=3000         requests counted
//   BENCH_INSTR_CONNECTIONS=16        connections, each sending its share of requests one after another
//   BENCH_PORTCULLIS_CLI=...          another checkout's src/cli.ts, to compare before and after
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, request } from 'undici';
import { installCleanup, startProcess, stopProcess, waitForPortLine, type Started } from './processes.ts';
import { targets, type BenchContext, type RunningTarget, type Target } from './targets.ts';
import { startBenchIdentity, type BenchIdentity } from './identity.ts';
import { startBenchRedis, type BenchRedis } from './redis.ts';
import { freePort } from './ports.ts';

const RESULTS = fileURLToPath(new URL('./results/', import.meta.url));
const NODE_ROWS = new Set(['undici', 'portcullis-public', 'protected-memory', 'protected-redis', 'full-policy', 'protected-redis-nocache', 'full-policy-nocache']);
const DEFAULT_ROWS = ['undici', 'portcullis-public', 'protected-redis', 'full-policy'];

function count(name: string, fallback: number): number {
  const text = process.env[name];
  const n = text === undefined || text === '' ? fallback : Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name}=${text}: expected a whole number, at least 1`);
  return n;
}

const options = {
  warmup: count('BENCH_INSTR_WARMUP', 4000),
  requests: count('BENCH_INSTR_REQUESTS', 3000),
  connections: count('BENCH_INSTR_CONNECTIONS', 16),
  targetIds: process.env.BENCH_TARGETS?.split(',').map((s) => s.trim()).filter(Boolean) ?? DEFAULT_ROWS,
};

export interface InstructionRow {
  readonly id: string;
  readonly label: string;
  readonly requests: number;
  readonly instructions: number;
  readonly instructionsPerRequest: number;
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

/** callgrind_control waits until the running program has carried out the command. */
function callgrindControl(pid: number, flag: '--zero' | '--dump'): void {
  execFileSync('callgrind_control', [flag, String(pid)], { stdio: 'ignore', timeout: 60_000 });
}

/** The "summary:"/"totals:" instruction count of the newest dump of this pid. */
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
 * Exactly `total` GETs over `connections` keep-alive connections, each sending its next
 * request when the last answer is read: a fixed amount of work, unlike wrk's fixed time.
 * Returns how many answers were not 200.
 */
async function fixedLoad(run: RunningTarget, connections: number, total: number): Promise<number> {
  const url = new URL(run.url);
  let left = total;
  let bad = 0;
  const headers = { host: run.host, ...run.headers };
  const one = async () => {
    const client = new Client(url.origin, { headersTimeout: 120_000, bodyTimeout: 120_000 });
    try {
      while (left > 0) {
        left--;
        const res = await client.request({ path: url.pathname, method: 'GET', headers });
        await res.body.dump();
        if (res.statusCode !== 200) bad++;
      }
    } finally {
      await client.close();
    }
  };
  await Promise.all(Array.from({ length: connections }, one));
  return bad;
}

async function upstreamServed(url: string): Promise<number> {
  const res = await request(new URL('/__bench/served', url));
  return ((await res.body.json()) as { served: number }).served;
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
      // V8's background compiler and GC threads would make the count depend on thread timing;
      // --single-threaded does the same work on the main thread (valgrind runs one thread at a time anyway).
      wrap: { command: ['valgrind', '--tool=callgrind', `--callgrind-out-file=${dumpDir}/callgrind.%p`, '--dump-instr=no', '--dump-line=no'], nodeFlags: ['--single-threaded'] },
      startTimeoutMs: 300_000,
    };
    // One row at a time: under valgrind each row wants a whole core.
    for (const target of selected) {
      console.error(`bench: starting ${target.id} under callgrind`);
      current = await target.start(ctx);
      const run = current;
      console.error(`bench: warm-up ${target.id} (${options.warmup} requests)`);
      let bad = await fixedLoad(run, options.connections, options.warmup);
      callgrindControl(run.pid, '--zero');
      const before = await upstreamServed(upstreamUrl);
      bad += await fixedLoad(run, options.connections, options.requests);
      const requests = (await upstreamServed(upstreamUrl)) - before;
      callgrindControl(run.pid, '--dump');
      if (bad > 0 || requests !== options.requests) throw new Error(`${target.id}: ${bad} answers were not 200, and the upstream served ${requests} of ${options.requests}`);
      const instructions = lastDumpTotal(dumpDir, run.pid);
      const row = { id: target.id, label: target.label, requests, instructions, instructionsPerRequest: instructions / requests };
      rows.push(row);
      console.error(`bench: ${target.id}: ${requests} requests, ${Math.round(row.instructionsPerRequest).toLocaleString('en')} instructions/request`);
      await run.stop();
      current = undefined;
    }
  } finally {
    await stopAll();
    rmSync(workDir, { recursive: true, force: true });
  }

  const base = rows.find((r) => r.id === 'portcullis-public');
  const lines = [
    '| row | requests counted | instructions / request | × public route |',
    '| --- | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r.label} | ${r.requests} | ${Math.round(r.instructionsPerRequest).toLocaleString('en')} | ${base ? (r.instructionsPerRequest / base.instructionsPerRequest).toFixed(2) : '-'} |`),
  ];
  console.log(`\n${lines.join('\n')}\n`);
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(join(RESULTS, 'instructions.json'), JSON.stringify({ date: new Date().toISOString(), node: process.version, settings: options, rows }, null, 2) + '\n');
}

main().catch((err: Error) => {
  console.error(`bench: ${err.stack ?? err.message}`);
  process.exitCode = 1;
});
