// npm run bench:instructions: machine instructions per request, counted by valgrind's
// callgrind, for the Node rows of npm run bench. Unlike CPU time, an instruction count does
// not depend on what else the machine is doing: the same code serving the same requests
// counts within a few percent (1-5%) run after run, so two rows, or two checkouts, can be told
// apart by a few percent on a host whose speed drifts by 2× between minutes.
//
// What it does not see: the kernel (the loopback TCP, about a third of a Node row's CPU
// time), and cache or TLB misses, stalls and branch mispredictions, which make an
// instruction cost more or less. It counts instructions of every thread of the process:
// the main thread, and V8's background compiler and GC threads.
//
// Each row is started as in npm run bench, but inside valgrind (about 50× slower), signed in,
// checked with one request, warmed up with BENCH_INSTR_WARMUP requests, and then measured
// in BENCH_INSTR_WINDOWS windows of BENCH_INSTR_REQUESTS requests each: callgrind's counters
// are zeroed before a window and dumped after it (callgrind_control), so a window counts
// exactly those requests. Load comes from this process (undici, BENCH_INSTR_CONNECTIONS
// connections), and every answer must be the upstream's 200 with its 1 KiB body.
//
// Environment:
//   BENCH_TARGETS=a,b            rows (default: undici, portcullis-public, protected-memory,
//                                protected-redis, full-policy; any Node row of bench/targets.ts)
//   BENCH_INSTR_WARMUP=30000     requests to warm up, counted by nobody (callgrind's instrumentation is off)
//   BENCH_INSTR_REQUESTS=2000    requests per window
//   BENCH_INSTR_WINDOWS=3        windows per process
//   BENCH_INSTR_REPEATS=1        fresh processes per row
//   BENCH_INSTR_CONNECTIONS=8
//   BENCH_INSTR_CACHE_SIM=1      also simulate the caches (callgrind --cache-sim=yes): L1 and
//                                last-level misses per request; slower again
//   BENCH_BASELINE_CLI=...       every Portcullis row gets a twin running that checkout, as in npm run bench
//   BENCH_BASELINE_NODE_FLAGS=.. more Node flags for the twins only, as in npm run bench
//   BENCH_KEEP=1                 keep the callgrind files and perf maps (in the temp directory it prints)
//
// Writes results/instructions.json and prints a table: per request, instructions in all and
// by where they ran (compiled JavaScript: the project's, libraries', Node's; V8 builtins,
// garbage collection, the compilers, llhttp, libc, the rest), each row against the bare undici forwarder and the public route.
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Pool } from 'undici';
import { installCleanup, startProcess, stopProcess, waitForPortLine, type Started } from './processes.ts';
import { baselineFromEnv, baselineTwin, targets, type BenchContext, type RunningTarget, type Target } from './targets.ts';
import { startBenchIdentity, type BenchIdentity } from './identity.ts';
import { startBenchRedis, type BenchRedis } from './redis.ts';
import { freePort } from './ports.ts';
import { median } from './report.ts';
import { CATEGORIES, PerfMap, categoryOf, parseAnnotate, parseSummary, type Category } from './callgrind.ts';

const run = promisify(execFile);
const RESULTS = fileURLToPath(new URL('./results/', import.meta.url));
const DEFAULT_ROWS = ['undici', 'portcullis-public', 'protected-memory', 'protected-redis', 'full-policy'];

function whole(name: string, fallback: number): number {
  const n = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive whole number`);
  return n;
}

const options = {
  warmup: whole('BENCH_INSTR_WARMUP', 30_000),
  requests: whole('BENCH_INSTR_REQUESTS', 2000),
  windows: whole('BENCH_INSTR_WINDOWS', 3),
  repeats: whole('BENCH_INSTR_REPEATS', 1),
  connections: whole('BENCH_INSTR_CONNECTIONS', 8),
  cacheSim: process.env.BENCH_INSTR_CACHE_SIM === '1',
  keep: process.env.BENCH_KEEP === '1',
};

/** One window: what callgrind counted, per request. */
interface Window {
  /** every event callgrind recorded (Ir; with the cache simulation also D1mr, DLmr, ...), per request */
  readonly perRequest: Record<string, number>;
  /** instructions per request by where they ran */
  readonly categories: Record<Category, number>;
  /** the functions with the most instructions of their own, per request */
  readonly top: { readonly name: string; readonly ir: number }[];
}

/** Send `count` GETs over `connections` connections; throws unless every one is the upstream's 200 with 1 KiB. */
async function drive(target: RunningTarget, count: number, connections: number): Promise<void> {
  const { origin, pathname } = new URL(target.url);
  const pool = new Pool(origin, { connections, pipelining: 1 });
  // A crowd row (bench/crowd.ts): each request from the next user in turn, as wrk sends them.
  const cookies = target.cookieFile ? readFileSync(target.cookieFile, 'utf8').split('\n').filter(Boolean) : [];
  let left = count;
  let sent = 0;
  let bad = 0;
  let example = '';
  const worker = async () => {
    while (left-- > 0) {
      const cookie = cookies.length ? { cookie: cookies[sent++ % cookies.length]! } : {};
      const res = await pool.request({ path: pathname, method: 'GET', headers: { host: target.host, ...target.headers, ...cookie } });
      const body = await res.body.arrayBuffer();
      if (res.statusCode !== 200 || body.byteLength !== 1024) {
        bad++;
        example ||= `HTTP ${res.statusCode}: ${Buffer.from(body).toString('utf8').slice(0, 300)}`;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: connections }, worker));
  } finally {
    await pool.close();
  }
  if (bad > 0) throw new Error(`${bad} of ${count} answers were not the upstream's 200 with 1 KiB: the row does not forward (${example})`);
}

/** how many functions a window keeps (in instructions.json), those with the most instructions of their own */
const TOP = 80;

/** requests after instrumentation is switched on, before the first window */
const SETTLE = 500;

async function callgrindControl(flag: '--zero' | '--dump' | '--instr=on', pid: number): Promise<void> {
  await run('callgrind_control', [flag, String(pid)], { timeout: 60_000 });
}

async function window(pid: number, outFile: string, dump: number, target: RunningTarget): Promise<Window> {
  await callgrindControl('--zero', pid);
  await drive(target, options.requests, options.connections);
  await callgrindControl('--dump', pid);
  const file = `${outFile}.${dump}`;
  const summary = parseSummary(readFileSync(file, 'utf8'));
  const perRequest = Object.fromEntries(Object.entries(summary).map(([event, n]) => [event, n / options.requests]));
  const { stdout } = await run('callgrind_annotate', ['--inclusive=no', '--threshold=100', '--show=Ir', file], { maxBuffer: 256 * 1024 * 1024 });
  // Generated code has no symbols: name it from the map node --perf-basic-prof keeps.
  const perfMap = `/tmp/perf-${pid}.map`;
  const functions = existsSync(perfMap) ? new PerfMap(readFileSync(perfMap, 'utf8')).name(parseAnnotate(stdout)) : parseAnnotate(stdout);
  const categories = Object.fromEntries(CATEGORIES.map((c) => [c, 0])) as Record<Category, number>;
  for (const f of functions) categories[categoryOf(f.name, f.object)] += f.ir / options.requests;
  // Whatever the listing did not attribute (it should be next to nothing) goes to "other", so the parts add up.
  categories.other += perRequest.Ir! - CATEGORIES.reduce((sum, c) => sum + categories[c], 0);
  const top = functions
    .sort((a, b) => b.ir - a.ir)
    .slice(0, TOP)
    .map((f) => ({ name: `${f.name} [${f.object.split('/').pop()}]`, ir: f.ir / options.requests }));
  return { perRequest, categories, top };
}


async function main(): Promise<void> {
  for (const tool of ['valgrind', 'callgrind_control', 'callgrind_annotate']) {
    try {
      await run('sh', ['-c', `command -v ${tool}`]);
    } catch {
      throw new Error(`${tool} not found: install Debian's valgrind package`);
    }
  }
  const ids = process.env.BENCH_TARGETS?.split(',').map((s) => s.trim()).filter(Boolean) ?? DEFAULT_ROWS;
  const wanted = ids.map((id) => {
    const t = targets.find((x) => x.id === id);
    if (!t) throw new Error(`BENCH_TARGETS: no row ${id}`);
    if (!t.runsPortcullis && t.id !== 'undici') throw new Error(`BENCH_TARGETS: ${id} is not a Node row; this bench counts the instructions of Portcullis and the bare forwarder only`);
    return t;
  });
  const baseline = baselineFromEnv();
  const selected = wanted.flatMap((t) => (baseline && t.runsPortcullis ? [t, baselineTwin(t, baseline)] : [t]));
  const workDir = mkdtempSync(join(tmpdir(), 'portcullis-instructions-'));
  const shared: { upstream?: Started; redis?: BenchRedis; identity?: BenchIdentity } = {};
  let current: RunningTarget | undefined;
  const stopAll = async () => {
    await current?.stop().catch(() => {});
    current = undefined;
    await shared.identity?.close().catch(() => {});
    await shared.redis?.stop().catch(() => {});
    if (shared.upstream) await stopProcess(shared.upstream);
  };
  installCleanup(stopAll);
  const results = new Map<string, Window[]>(selected.map((t) => [t.id, []]));
  try {
    shared.upstream = startProcess('upstream', process.execPath, [fileURLToPath(new URL('./upstream.ts', import.meta.url))]);
    const upstreamUrl = `http://127.0.0.1:${await waitForPortLine(shared.upstream)}/`;
    if (selected.some((t) => t.needs?.redis)) shared.redis = await startBenchRedis(await freePort());
    const signIns = selected.filter((t) => t.needs?.identity).length;
    if (signIns > 0) shared.identity = await startBenchIdentity(signIns);
    console.error(
      `bench:instructions: ${selected.length} rows × ${options.repeats} processes × ${options.windows} windows of ${options.requests} requests ` +
        `(after ${options.warmup} to warm up), ${options.connections} connections, under callgrind${options.cacheSim ? ' with the cache simulation' : ''}; files in ${workDir}`,
    );
    for (let rep = 1; rep <= options.repeats; rep++) {
      for (const target of selected) {
        const outFile = join(workDir, `${target.id}-${rep}.callgrind`);
        // Instrumentation off until the warm-up is over: valgrind alone is several times faster
        // than with callgrind counting, so the warm-up can be as long as npm run bench's.
        const wrapper = ['valgrind', '--tool=callgrind', '--instr-atstart=no', `--callgrind-out-file=${outFile}`, '--dump-line=no', ...(options.cacheSim ? ['--cache-sim=yes'] : [])];
        const ctx: BenchContext = {
          upstream: { url: upstreamUrl, pid: shared.upstream.pid },
          workDir,
          identity: shared.identity,
          redis: shared.redis,
          wrapper,
          startTimeoutMs: 240_000,
          // 500 ms (the default) is too short for a process running 50× slower.
          redisCommandTimeout: '30s',
          // The names of generated code, for the breakdown (the map is removed with the process below).
          nodeFlags: ['--perf-basic-prof'],
        };
        const started = Date.now();
        current = await target.start(ctx);
        const pid = current.pid;
        await drive(current, 1, 1);
        await drive(current, options.warmup, options.connections);
        await callgrindControl('--instr=on', current.pid);
        // Switching instrumentation on discards valgrind's translations: let it rebuild them.
        await drive(current, SETTLE, options.connections);
        for (let w = 1; w <= options.windows; w++) {
          const result = await window(current.pid, outFile, w, current);
          results.get(target.id)!.push(result);
          console.error(`bench:instructions: ${target.id} process ${rep} window ${w}: ${Math.round(result.perRequest.Ir!).toLocaleString('en-US')} instructions per request`);
        }
        await current.stop();
        current = undefined;
        // BENCH_KEEP: the map goes with the callgrind files, to name the code in them later.
        if (options.keep && existsSync(`/tmp/perf-${pid}.map`)) copyFileSync(`/tmp/perf-${pid}.map`, join(workDir, `${target.id}-${rep}.perf.map`));
        rmSync(`/tmp/perf-${pid}.map`, { force: true });
        console.error(`bench:instructions: ${target.id} done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
      }
    }
  } finally {
    await stopAll();
    if (!options.keep) rmSync(workDir, { recursive: true, force: true });
  }
  report(selected, results);
}

function report(selected: readonly Target[], results: ReadonlyMap<string, Window[]>): void {
  const rows = selected.map((t) => {
    const windows = results.get(t.id)!;
    const events = Object.keys(windows[0]!.perRequest);
    const perRequest = Object.fromEntries(events.map((e) => [e, median(windows.map((w) => w.perRequest[e]!))]));
    const categories = Object.fromEntries(CATEGORIES.map((c) => [c, median(windows.map((w) => w.categories[c]))])) as Record<Category, number>;
    const ir = windows.map((w) => w.perRequest.Ir!);
    // A window may catch V8 still optimizing something: that is warm-up, not what a request costs.
    const withoutCompiler = median(windows.map((w) => w.perRequest.Ir! - w.categories.compiler));
    return { id: t.id, label: t.label, perRequest, withoutCompiler, categories, spread: { min: Math.min(...ir), max: Math.max(...ir) }, windows };
  });
  const ir = (id: string) => rows.find((r) => r.id === id)?.perRequest.Ir;
  const steady = (id: string) => rows.find((r) => r.id === id)?.withoutCompiler;
  const k = (n: number) => `${(n / 1000).toFixed(1)}k`;
  const ratio = (n: number, of: number | undefined) => (of ? `${(n / of).toFixed(2)}×` : '-');
  const header = ['row', 'instructions/req', 'spread', 'without compiler', '× undici', '× public', ...CATEGORIES, ...(options.cacheSim ? ['D1 misses', 'LL misses'] : [])];
  const lines = rows.map((r) => [
    r.id,
    k(r.perRequest.Ir!),
    `${k(r.spread.min)}-${k(r.spread.max)}`,
    k(r.withoutCompiler),
    ratio(r.withoutCompiler, steady('undici')),
    ratio(r.withoutCompiler, steady('portcullis-public')),
    ...CATEGORIES.map((c) => k(r.categories[c])),
    ...(options.cacheSim ? [((r.perRequest.D1mr ?? 0) + (r.perRequest.D1mw ?? 0)).toFixed(0), ((r.perRequest.DLmr ?? 0) + (r.perRequest.DLmw ?? 0) + (r.perRequest.ILmr ?? 0)).toFixed(0)] : []),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(`\n${fmt(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n${lines.map(fmt).join('\n')}\n`);
  console.log(
    'Instructions per request (callgrind; user space only, all threads), medians over windows; spread: lowest and highest window; ' +
      'without compiler: less what V8 spent compiling in the window (optimizing code still warming up, not the cost of a request); the ratios compare these. ' +
      'Compiled JavaScript: own-js the project files (for undici, the forwarder itself), library-js node_modules, node-js Node itself; regexp: compiled regular expressions; ' +
      'builtins: V8 builtins (the interpreter, inline caches, JSON, strings); gc: garbage collection; ' +
      'compiler: V8 compiling; llhttp: HTTP parsing; libc: malloc, memcpy and system-call wrappers; other: Node and libuv, the V8 runtime, OpenSSL.\n',
  );
  for (const [id, other] of baselinePairs(rows.map((r) => r.id))) {
    console.log(`${id} against its baseline: instructions per request ×${(ir(id)! / ir(other)!).toFixed(3)}, without compiler ×${(steady(id)! / steady(other)!).toFixed(3)}`);
  }
  mkdirSync(RESULTS, { recursive: true });
  const file = join(RESULTS, 'instructions.json');
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), node: process.version, settings: options, rows }, null, 2) + '\n');
  console.error(`bench:instructions: wrote ${file}`);
}

function baselinePairs(ids: readonly string[]): [string, string][] {
  return ids.filter((id) => ids.includes(`${id}@baseline`)).map((id) => [id, `${id}@baseline`]);
}

if (!existsSync('/proc/self/stat')) throw new Error('bench:instructions needs Linux');
main().catch((err: Error) => {
  console.error(`bench:instructions: ${err.stack ?? err.message}`);
  process.exitCode = 1;
});
