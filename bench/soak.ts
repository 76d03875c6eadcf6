// npm run bench:soak: does the proxy's memory grow under steady load? Starts the upstream,
// a private Redis, the demo identity provider and one row of the benchmark (default
// `full-policy`: the protected route, session in Redis, full policy with a signed posture
// header), signs alice in, warms up, then drives wrk at 64 connections for a minute in
// slices, reading the row's RSS (and, from its ops listener's /metrics, the V8 heap in use)
// before the first slice and after each one. Prints a table and a verdict and writes
// results/soak.json. `BENCH_SOAK=1 npm run bench` runs the same soak inside the full run.
//
// Environment:
//   BENCH_SOAK_TARGET=full-policy  the row to soak (an id from bench/targets.ts)
//   BENCH_SOAK_SECONDS=60          length of the measured load, in whole-second slices
//   BENCH_SOAK_SLICES=6            how many slices (one RSS reading after each)
//   BENCH_SOAK_WARMUP_SECONDS=5    load before the first reading (JIT, pools, caches)
//   BENCH_SOAK_SLOPE_LIMIT=1       MiB per minute after warm-up above which the verdict says it grew
//   BENCH_CONNECTIONS=64, BENCH_LOG, BENCH_KEEP=1, BENCH_PORTCULLIS_CLI, BENCH_REDIS_URL: as for npm run bench
import { loadavg, tmpdir } from 'node:os';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { installCleanup, machineCpu, startProcess, stopProcess, sumProcStats, waitForPortLine, type Started } from './processes.ts';
import { loadTarget, loadTool, runLoad } from './load.ts';
import { measuredPids, targets, type RunningTarget, type Target } from './targets.ts';
import { soakConsoleTable, soakTitle, soakVerdict, soakVerdictLines, type Soak, type SoakPoint } from './report.ts';
import { startBenchIdentity, type BenchIdentity } from './identity.ts';
import { startBenchRedis, type BenchRedis } from './redis.ts';
import { freePort } from './ports.ts';

const RESULTS = fileURLToPath(new URL('./results/', import.meta.url));
const MIB = 1024 * 1024;

export interface SoakSettings {
  readonly targetId: string;
  readonly seconds: number;
  readonly slices: number;
  readonly sliceSeconds: number;
  readonly warmupSeconds: number;
  readonly connections: number;
  readonly slopeLimitMibPerMinute: number;
}

export function soakSettings(env: NodeJS.ProcessEnv = process.env): SoakSettings {
  const num = (name: string, fallback: number, min: number) => {
    const text = env[name];
    if (text === undefined || text === '') return fallback;
    const n = Number(text);
    if (!Number.isFinite(n) || n < min) throw new Error(`${name}=${text}: expected a number of at least ${min}`);
    return n;
  };
  const seconds = num('BENCH_SOAK_SECONDS', 60, 2);
  const wantedSlices = Math.round(num('BENCH_SOAK_SLICES', 6, 2));
  // wrk takes whole seconds; at least two slices, so there is a second half to fit a trend through.
  const sliceSeconds = Math.max(1, Math.round(seconds / wantedSlices));
  const slices = Math.max(2, Math.round(seconds / sliceSeconds));
  return {
    targetId: env.BENCH_SOAK_TARGET?.trim() || 'full-policy',
    seconds: slices * sliceSeconds,
    slices,
    sliceSeconds,
    warmupSeconds: num('BENCH_SOAK_WARMUP_SECONDS', 5, 0),
    connections: num('BENCH_CONNECTIONS', 64, 1),
    slopeLimitMibPerMinute: num('BENCH_SOAK_SLOPE_LIMIT', 1, 0),
  };
}

/** What the soak reads besides the target: the upstream, to count what it served. */
export interface SoakEnvironment {
  readonly upstreamUrl: string;
}

/** Sum of a metric's samples in Prometheus text (workers: the primary answers with every worker's). */
function metricValue(text: string, name: string): number | null {
  let sum = 0;
  let found = false;
  for (const match of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})?\\s+(\\S+)`, 'gm'))) {
    sum += Number(match[1]);
    found = true;
  }
  return found ? sum : null;
}

type HeapFigures = Pick<SoakPoint, 'heapTotalMib' | 'heapUsedMib' | 'oldSpaceUsedMib' | 'heapSpacesMib' | 'externalMib'>;

/** prom-client's default Node metrics, which Portcullis exports under the portcullis_ prefix. */
async function heapFigures(opsUrl: string | undefined): Promise<HeapFigures> {
  if (!opsUrl) return { heapTotalMib: null, heapUsedMib: null, oldSpaceUsedMib: null, heapSpacesMib: null, externalMib: null };
  const res = await request(`${opsUrl}/metrics`);
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`${opsUrl}/metrics answered ${res.statusCode}`);
  const mib = (v: number | null) => (v === null ? null : v / MIB);
  const spaces: Record<string, number> = {};
  for (const m of text.matchAll(/^portcullis_nodejs_heap_space_size_total_bytes\{[^}]*space="([^"]+)"[^}]*\}\s+(\S+)/gm)) {
    spaces[m[1]!] = (spaces[m[1]!] ?? 0) + Number(m[2]) / MIB;
  }
  return {
    heapTotalMib: mib(metricValue(text, 'portcullis_nodejs_heap_size_total_bytes')),
    heapUsedMib: mib(metricValue(text, 'portcullis_nodejs_heap_size_used_bytes')),
    oldSpaceUsedMib: mib(metricValue(text, 'portcullis_nodejs_heap_space_size_used_bytes\\{space="old"\\}')),
    heapSpacesMib: Object.keys(spaces).length ? spaces : null,
    externalMib: mib(metricValue(text, 'portcullis_nodejs_external_memory_bytes')),
  };
}

async function upstreamServed(upstreamUrl: string): Promise<number> {
  const res = await request(new URL('/__bench/served', upstreamUrl));
  return ((await res.body.json()) as { served: number }).served;
}

/** Warm up, then drive load in slices and read memory before the first slice and after each one. */
export async function soakTarget(target: Target, run: RunningTarget, env: SoakEnvironment, s: SoakSettings, say: (line: string) => void = (l) => console.error(l)): Promise<Soak> {
  const load = (seconds: number) => runLoad({ ...loadTarget(run), connections: s.connections, seconds });
  if (s.warmupSeconds > 0) {
    say(`bench: soak ${target.id}: warm-up ${s.warmupSeconds} s`);
    await load(s.warmupSeconds);
  }
  const read = async () => ({ rssMib: sumProcStats(measuredPids(run)).rssBytes / MIB, ...(await heapFigures(run.opsUrl)) });
  const points: SoakPoint[] = [{ seconds: 0, ...(await read()), rps: null, cpuUsPerRequest: null, errors: null, machineBusyPct: null }];
  say(`bench: soak ${target.id} (pid ${run.pid}): ${s.slices} × ${s.sliceSeconds} s at ${s.connections} connections, RSS before ${points[0]!.rssMib.toFixed(1)} MiB`);
  const start = Date.now();
  for (let i = 1; i <= s.slices; i++) {
    const pids = measuredPids(run);
    const cpuBefore = sumProcStats(pids).cpuUs;
    const machineBefore = machineCpu();
    const servedBefore = await upstreamServed(env.upstreamUrl);
    const slice = await load(s.sliceSeconds);
    const servedAfter = await upstreamServed(env.upstreamUrl);
    const cpuAfter = sumProcStats(pids).cpuUs;
    const machineAfter = machineCpu();
    const notForwarded = Math.max(0, slice.requests - (servedAfter - servedBefore));
    const point: SoakPoint = {
      seconds: (Date.now() - start) / 1000,
      ...(await read()),
      rps: slice.rps,
      cpuUsPerRequest: (cpuAfter - cpuBefore) / slice.requests,
      errors: Math.max(slice.badStatus, notForwarded) + slice.socketErrors,
      machineBusyPct: (100 * (machineAfter.busyUs - machineBefore.busyUs)) / (machineAfter.totalUs - machineBefore.totalUs),
    };
    points.push(point);
    say(`bench: soak slice ${i}/${s.slices}: RSS ${point.rssMib.toFixed(1)} MiB, ${Math.round(slice.rps)} req/s, ${point.errors} errors`);
  }
  return {
    id: target.id,
    label: target.label,
    connections: s.connections,
    warmupSeconds: s.warmupSeconds,
    sliceSeconds: s.sliceSeconds,
    points,
    verdict: soakVerdict(points, s.slopeLimitMibPerMinute),
  };
}

/** One GET before any load: the soak must measure 200s with the upstream's body, not a redirect to sign-in. */
async function preflight(target: Target, run: RunningTarget): Promise<void> {
  const res = await request(run.url, { headers: { host: run.host, ...run.headers } });
  const body = await res.body.arrayBuffer();
  if (res.statusCode !== 200 || body.byteLength !== 1024) {
    throw new Error(`${target.id}: expected 200 with the upstream's 1024-byte body, got ${res.statusCode} with ${body.byteLength} bytes`);
  }
}

async function main(): Promise<void> {
  const settings = soakSettings();
  const target = targets.find((t) => t.id === settings.targetId);
  if (!target) throw new Error(`BENCH_SOAK_TARGET=${settings.targetId} is none of: ${targets.map((t) => t.id).join(', ')}`);
  if (target.available && !target.available()) throw new Error(`${target.id} cannot run on this machine (not installed)`);
  const keep = process.env.BENCH_KEEP === '1';
  const workDir = mkdtempSync(join(tmpdir(), 'portcullis-soak-'));
  let upstream: Started | undefined;
  let redis: BenchRedis | undefined;
  let identity: BenchIdentity | undefined;
  let running: RunningTarget | undefined;
  let stopped = false;
  const stopAll = async () => {
    if (stopped) return;
    stopped = true;
    await running?.stop().catch(() => {});
    await identity?.close().catch(() => {});
    await redis?.stop().catch(() => {});
    if (upstream) await stopProcess(upstream);
  };
  const removeWorkDir = () => {
    if (!keep) rmSync(workDir, { recursive: true, force: true });
  };
  installCleanup(() => stopAll().then(removeWorkDir));

  try {
    const loadBefore = loadavg();
    upstream = startProcess('upstream', process.execPath, [fileURLToPath(new URL('./upstream.ts', import.meta.url))]);
    const upstreamUrl = `http://127.0.0.1:${await waitForPortLine(upstream)}/`;
    if (target.needs?.redis) redis = await startBenchRedis(await freePort());
    if (target.needs?.identity) identity = await startBenchIdentity(1);
    console.error(`bench: starting ${target.id}`);
    running = await target.start({ upstream: { url: upstreamUrl, pid: upstream.pid }, workDir, logPath: process.env.BENCH_LOG, identity, redis });
    await preflight(target, running);
    const soak = await soakTarget(target, running, { upstreamUrl }, settings);
    const loadAfter = loadavg();
    await stopAll();

    console.log(`\n${soakTitle(soak)}\n`);
    console.log(soakConsoleTable(soak));
    console.log(`\n${soakVerdictLines(soak)}\n`);
    const round2 = (v: number) => Math.round(v * 100) / 100;
    const machine = { date: new Date().toISOString(), node: process.version, load_tool: loadTool(), load_average_before: loadBefore.map(round2), load_average_after: loadAfter.map(round2) };
    mkdirSync(RESULTS, { recursive: true });
    writeFileSync(join(RESULTS, 'soak.json'), JSON.stringify({ machine, settings, soak }, null, 2) + '\n');
    console.error(`bench: wrote ${join(RESULTS, 'soak.json')}`);
    if (soak.points.some((p) => (p.errors ?? 0) > 0)) {
      console.error('bench: errors or non-2xx answers during the soak; its figures are not a clean soak');
      process.exitCode = 1;
    }
  } finally {
    await stopAll();
    removeWorkDir();
  }
}

if (import.meta.main) {
  main().catch((err: Error) => {
    console.error(`bench: ${err.stack ?? err.message}`);
    process.exitCode = 1;
  });
}
