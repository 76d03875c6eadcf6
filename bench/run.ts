// npm run bench: Portcullis's rows (public route, protected routes with the session in
// memory and in Redis, a full zero-trust policy, workers: auto) against the same upstream
// served directly, through a bare undici forwarder and through nginx (plain, and with
// auth_request to a Redis session check), all on loopback, each in its own process, load
// from wrk. Prints one table and writes results/latest.{json,md,svg}.
//
// Environment:
//   BENCH_SECONDS=10         length of each measured run
//   BENCH_REPEATS=3          repetitions; the table shows medians
//   BENCH_WARMUP_SECONDS=3   one warm-up run per target before measuring (0 to skip)
//   BENCH_CONNECTIONS=64     the high connection count (the low one is always 1)
//   BENCH_TARGETS=a,b        only these target ids (default: all; see bench/targets.ts)
//   BENCH_MAX_STOLEN=10      a run during which the hypervisor took more than this % of the cores (steal)
//   BENCH_REDO=1             is measured again, up to this many times; the run with the least steal is kept
//   BENCH_LOG=/dev/null      where Portcullis's log goes (default: one temp file per row)
//   BENCH_LOG_PIPE=1         Portcullis writes its log into a pipe that cat copies to that file (as under Docker)
//   BENCH_PROFILE=1          run Node targets under --cpu-prof, profiles in bench/results/profiles
//   BENCH_NODE_FLAGS="..."   more flags for the Node processes under test, e.g. --trace-gc (output in their log)
//   BENCH_PORTCULLIS_CLI=... another checkout's src/cli.ts, to compare before and after a change
//   BENCH_BASELINE_CLI=...   another checkout's src/cli.ts: every Portcullis row gets a twin running it
//                            ("ID@baseline"), measured in turn with the row, and the table says how
//                            the two compare; the fairest comparison here, and still noisy (bench/README)
//   BENCH_BASELINE_NODE_FLAGS="..." more Node flags for the twins only (with or without BENCH_BASELINE_CLI),
//                            e.g. to compare a V8 setting with the default in the same minutes
//   BENCH_KEEP=1             keep the temp directory (configs, logs)
//   BENCH_DOCS=1|0           also write the chart to docs/bench.svg (default: only for a full default run)
//   BENCH_REDIS_URL=...      use this Redis instead of starting a private redis-server
//   BENCH_SOAK=1|0           after the table's runs, soak one row (default full-policy) as npm run bench:soak does
//                            (default: on for a full run, off when BENCH_TARGETS picks rows)
//                            (BENCH_SOAK_TARGET, BENCH_SOAK_SECONDS, ...: see bench/soak.ts); in latest.json and latest.md
import { cpus, loadavg, tmpdir } from 'node:os';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { installCleanup, machineCpu, procStats, reapedChildrenCpuUs, startProcess, stopProcess, sumProcStats, waitForPortLine, type Started } from './processes.ts';
import { loadTarget, loadTool, runLoad, type LoadResult } from './load.ts';
import { baselineFromEnv, baselineTwin, measuredPids, targets, type BenchContext, type RunningTarget, type Target } from './targets.ts';
import { buildRows, consoleTable, errorsOf, markdownTable, median, targetCheckLines, targetChecks, soakConsoleTable, soakMarkdownTable, soakTitle, soakVerdictLines, type Row, type Sample, type Soak } from './report.ts';
import { soakSettings, soakTarget } from './soak.ts';
import { startBenchIdentity, type BenchIdentity } from './identity.ts';
import { startBenchRedis, type BenchRedis } from './redis.ts';
import { freePort } from './ports.ts';
import { renderChart } from './chart.ts';

const RESULTS = fileURLToPath(new URL('./results/', import.meta.url));
const DOCS_CHART = fileURLToPath(new URL('../docs/bench.svg', import.meta.url));

const options = {
  seconds: positiveNumber('BENCH_SECONDS', 10),
  repeats: positiveNumber('BENCH_REPEATS', 3),
  warmupSeconds: positiveNumber('BENCH_WARMUP_SECONDS', 3, true),
  connections: positiveNumber('BENCH_CONNECTIONS', 64),
  targetIds: process.env.BENCH_TARGETS?.split(',').map((s) => s.trim()).filter(Boolean),
  maxStolenPct: positiveNumber('BENCH_MAX_STOLEN', 10, true),
  redo: positiveNumber('BENCH_REDO', 1, true),
  profile: process.env.BENCH_PROFILE === '1',
  keep: process.env.BENCH_KEEP === '1',
  // The soak (about a minute) belongs to a full run; a partial run asks for it with BENCH_SOAK=1.
  soak: (process.env.BENCH_SOAK ?? (process.env.BENCH_TARGETS ? '0' : '1')) === '1' ? soakSettings() : undefined,
};
/** The tracked chart in docs/ is only replaced by a run that measured everything the default way. */
const writeDocsChart = process.env.BENCH_DOCS ? process.env.BENCH_DOCS === '1' : !options.targetIds && options.seconds >= 10 && options.repeats >= 3 && !options.profile && !baselineFromEnv();

function positiveNumber(name: string, fallback: number, zeroOk = false): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0 || (n === 0 && !zeroOk)) throw new Error(`${name}=${text}: expected a ${zeroOk ? 'non-negative' : 'positive'} number`);
  return n;
}

const round2 = (v: number) => Math.round(v * 100) / 100;

function machineFacts() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  return {
    date: new Date().toISOString(),
    node: process.version,
    cores: cpus().length,
    cpu_model: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? cpus()[0]?.model ?? 'unknown',
    load_average_before: loadavg().map(round2),
    load_tool: loadTool(),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A run measured again because the hypervisor took too much of the machine during it; the one with more steal was dropped. */
interface Redone {
  readonly id: string;
  readonly repetition: number;
  readonly stolen_pct: number;
}

interface Shared {
  upstream?: Started;
  upstreamUrl?: string;
  redis?: BenchRedis;
  identity?: BenchIdentity;
}

async function main(): Promise<void> {
  const started = Date.now();
  const machine = machineFacts();
  const wanted = options.targetIds ? targets.filter((t) => options.targetIds!.includes(t.id)) : targets;
  if (wanted.length === 0) throw new Error(`BENCH_TARGETS matches none of: ${targets.map((t) => t.id).join(', ')}`);
  const skipped = wanted.filter((t) => t.available && !t.available());
  for (const t of skipped) console.error(`bench: leaving out ${t.id}: not installed on this machine`);
  const baseline = baselineFromEnv();
  const selected = wanted.filter((t) => !skipped.includes(t)).flatMap((t) => (baseline && t.runsPortcullis ? [t, baselineTwin(t, baseline)] : [t]));
  const workDir = mkdtempSync(join(tmpdir(), 'portcullis-bench-'));
  const profileDir = options.profile ? join(RESULTS, 'profiles') : undefined;
  if (profileDir) mkdirSync(profileDir, { recursive: true });

  const shared: Shared = {};
  // At most one row runs at a time: each repetition of each row is a process of its own.
  let current: RunningTarget | undefined;
  let stopped = false;
  const stopCurrent = async () => {
    const run = current;
    current = undefined;
    await run?.stop().catch(() => {});
  };
  const stopAll = async () => {
    if (stopped) return;
    stopped = true;
    // The row first (it holds connections to the upstream and Redis).
    await stopCurrent();
    await shared.identity?.close().catch(() => {});
    await shared.redis?.stop().catch(() => {});
    if (shared.upstream) await stopProcess(shared.upstream);
  };
  const removeWorkDir = () => {
    if (!options.keep) rmSync(workDir, { recursive: true, force: true });
  };
  installCleanup(() => stopAll().then(removeWorkDir));

  try {
    shared.upstream = startProcess('upstream', process.execPath, [fileURLToPath(new URL('./upstream.ts', import.meta.url))]);
    shared.upstreamUrl = `http://127.0.0.1:${await waitForPortLine(shared.upstream)}/`;
    if (selected.some((t) => t.needs?.redis)) shared.redis = await startBenchRedis(await freePort());
    const signIns = selected.filter((t) => t.needs?.identity).length;
    if (signIns > 0) shared.identity = await startBenchIdentity(signIns);
    const ctx: BenchContext = {
      upstream: { url: shared.upstreamUrl, pid: shared.upstream.pid },
      workDir,
      logPath: process.env.BENCH_LOG,
      logPipe: process.env.BENCH_LOG_PIPE === '1',
      profileDir,
      identity: shared.identity,
      redis: shared.redis,
    };
    /** A fresh process of the row, checked with one request and warmed up. */
    const startRow = async (target: Target): Promise<RunningTarget> => {
      current = await target.start(ctx);
      await preflight(target, current);
      if (options.warmupSeconds > 0) await runLoad({ ...loadTarget(current), connections: options.connections, seconds: options.warmupSeconds });
      return current;
    };

    console.error(`bench: ${machine.cores} cores, ${machine.cpu_model}, load ${machine.load_average_before.join(' ')}, node ${machine.node}, ${machine.load_tool}`);
    console.error(`bench: ${selected.length} targets × ${options.repeats} repeats × (${options.warmupSeconds}s warm-up + ${options.seconds}s @${options.connections} + ${options.seconds}s @1 connection), a fresh process each`);

    // Repetitions go round the targets, so a slow minute on a shared machine hurts every row
    // alike. And every repetition starts the row anew, so no one process's state (its warm-up,
    // where its memory landed) weighs on all of a row's figures, and no idle row shares the
    // machine with the measured one.
    const samples = new Map<string, Sample[]>(selected.map((target) => [target.id, []]));
    const lastRun = new Map<string, RunningTarget>();
    // A virtual machine's cores can be taken by the hypervisor for other guests (steal time);
    // a run that lost much of its machine that way says more about the neighbours than about
    // the row, so it is measured again (BENCH_MAX_STOLEN, BENCH_REDO) and the calmest run kept.
    const redone: Redone[] = [];
    for (let rep = 1; rep <= options.repeats; rep++) {
      for (const target of selected) {
        let kept: Sample | undefined;
        for (let attempt = 0; attempt <= options.redo; attempt++) {
          const run = await startRow(target);
          const sample = await measure(run, shared);
          await stopCurrent();
          lastRun.set(target.id, run);
          console.error(
            `bench: run ${rep}/${options.repeats} ${target.id.padEnd(18)} ${Math.round(sample.rps)} req/s, p99 ${sample.p99Ms.toFixed(2)} ms, ` +
              `${sample.cpuUsPerRequest.toFixed(1)} µs CPU/req (${sample.sysCpuUsPerRequest.toFixed(1)} system), machine ${sample.machineBusyPct.toFixed(0)}% busy ` +
              `(others ${sample.othersCpuPct.toFixed(0)}%, stolen ${sample.stolenPct.toFixed(0)}%)`,
          );
          if (kept) redone.push({ id: target.id, repetition: rep, stolen_pct: round2(Math.max(kept.stolenPct, sample.stolenPct)) });
          if (!kept || sample.stolenPct < kept.stolenPct) kept = sample;
          if (kept.stolenPct <= options.maxStolenPct) break;
          if (attempt < options.redo) console.error(`bench: the hypervisor took ${sample.stolenPct.toFixed(0)}% of the cores during that run (BENCH_MAX_STOLEN=${options.maxStolenPct}); measuring it again`);
        }
        samples.get(target.id)!.push(kept!);
      }
    }
    let soak: Soak | undefined;
    if (options.soak) {
      const target = selected.find((t) => t.id === options.soak!.targetId);
      if (target) {
        console.error(`bench: starting ${target.id} for the soak`);
        // Started without the table's warm-up: the soak has its own.
        current = await target.start(ctx);
        await preflight(target, current);
        soak = await soakTarget(target, current, { upstreamUrl: shared.upstreamUrl }, options.soak);
        await stopCurrent();
      } else console.error(`bench: no soak: ${options.soak.targetId} is not among the rows of this run (BENCH_TARGETS, BENCH_SOAK_TARGET)`);
    }
    const loadAfter = loadavg().map(round2);

    await stopAll();
    const rows = buildRows(
      await Promise.all(
        selected.map(async (target) => {
          const run = lastRun.get(target.id)!;
          return { id: target.id, label: target.label, usesRedis: run.usesRedis, samples: samples.get(target.id)!, facts: await run.facts?.() };
        }),
      ),
    );
    const minutes = (Date.now() - started) / 60_000;
    const run = { ...machine, load_average_after: loadAfter, duration_minutes: round2(minutes), skipped: skipped.map((t) => t.id), redone };

    console.log(`\n${consoleTable(rows, options.connections)}\n`);
    const checks = targetChecks(samples);
    const checkLines = targetCheckLines(checks, new Map(rows.map((r) => [r.id, r.label])));
    if (checks.length) console.log(`${TARGETS_TITLE}\n${checkLines.map((l) => `- ${l}`).join('\n')}\n`);
    for (const line of baselineComparison(samples)) console.log(line);
    if (soak) console.log(`${soakTitle(soak, ', after the runs above')}\n\n${soakConsoleTable(soak)}\n\n${soakVerdictLines(soak)}\n`);
    const settings = { seconds: options.seconds, repeats: options.repeats, warmup_seconds: options.warmupSeconds, connections: [1, options.connections], ...(options.soak ? { soak: options.soak } : {}) };
    mkdirSync(RESULTS, { recursive: true });
    writeFileSync(join(RESULTS, 'latest.json'), JSON.stringify({ machine: run, settings, rows, targets: checks, ...(soak ? { soak } : {}) }, null, 2) + '\n');
    const soakMd = soak ? `\n${soakTitle(soak, ', after the runs above')}\n\n${soakMarkdownTable(soak)}\n\n${soakVerdictLines(soak).replace('\n', ' ')}\n` : '';
    const checksMd = checks.length ? `\n${TARGETS_TITLE}\n\n${checkLines.map((l) => `- ${l}`).join('\n')}\n` : '';
    writeFileSync(join(RESULTS, 'latest.md'), `${markdownTable(rows, options.connections)}\n\n${footnote(rows, run)}\n${checksMd}${soakMd}`);
    const svg = renderChart(rows, { title: `Portcullis on loopback, ${run.date.slice(0, 10)}`, subtitle: chartSubtitle(rows, run) }, options.connections);
    writeFileSync(join(RESULTS, 'latest.svg'), svg);
    if (writeDocsChart) writeFileSync(DOCS_CHART, svg);
    console.error(`bench: wrote ${join(RESULTS, 'latest.json')}, latest.md and latest.svg${writeDocsChart ? `, and ${DOCS_CHART}` : ''} (${minutes.toFixed(1)} minutes)`);
    checkAccessLogs(rows);
    const bad = rows.filter((r) => r.samples.some((s) => errorsOf(s) > 0)).map((r) => r.id);
    if (soak?.points.some((p) => (p.errors ?? 0) > 0)) bad.push(`${soak.id} (soak)`);
    if (bad.length) {
      console.error(`bench: errors or non-2xx answers in: ${bad.join(', ')}; these numbers are not comparable`);
      process.exitCode = 1;
    }
  } finally {
    await stopAll();
    removeWorkDir();
  }
}

const TARGETS_TITLE =
  'Targets, each the median over repetitions of a row against the row it is compared with in the same repetition:';

/** Each row against its @baseline twin, run by run (the twin ran right after it): median ratios. */
function baselineComparison(samples: ReadonlyMap<string, Sample[]>): string[] {
  const out: string[] = [];
  for (const [id, mine] of samples) {
    const theirs = samples.get(`${id}@baseline`);
    if (!theirs) continue;
    const cpu = mine.map((s, i) => s.cpuUsPerRequest / theirs[i]!.cpuUsPerRequest);
    const rps = mine.map((s, i) => s.rps / theirs[i]!.rps);
    const list = (v: number[]) => v.map((x) => x.toFixed(2)).join(', ');
    out.push(`${id} against its baseline: CPU µs/request ×${median(cpu).toFixed(3)} (runs ${list(cpu)}), requests/s ×${median(rps).toFixed(3)} (runs ${list(rps)})`);
  }
  return out;
}

function footnote(rows: readonly Row[], run: ReturnType<typeof machineFacts> & { load_average_after: number[]; duration_minutes: number; skipped: string[]; redone: Redone[] }): string {
  const busy = rows.map((r) => r.median.machineBusyPct);
  const others = rows.map((r) => r.median.othersCpuPct);
  const stolen = rows.map((r) => r.median.stolenPct);
  const range = (v: number[]) => `${Math.min(...v).toFixed(0)}–${Math.max(...v).toFixed(0)}%`;
  return (
    `Medians of ${options.repeats} runs of ${options.seconds} s per row and connection count (${run.load_tool}, 1 thread), rows measured in turn within one run ` +
    `of ${run.duration_minutes.toFixed(0)} minutes, a fresh process for each run, on ${run.cores} × ${run.cpu_model}, Node ${run.node}, ${run.date.slice(0, 16).replace('T', ' ')} UTC. ` +
    `Load average ${run.load_average_before.join(' ')} before and ${run.load_average_after.join(' ')} after the run. ` +
    `"machine busy" is the share of both cores in use during the ${options.connections}-connection run (${range(busy)}); ` +
    `"others" is the share used by processes outside the measurement (not the row's, the upstream's, Redis's or wrk's) (${range(others)}); ` +
    `"stolen" is the share the hypervisor gave to other virtual machines (steal time, counted in "machine busy") (${range(stolen)}). ` +
    (run.redone.length
      ? `${run.redone.length} run${run.redone.length === 1 ? ' was' : 's were'} measured again because more than ${options.maxStolenPct}% was stolen (the calmer run kept: ${run.redone.map((r) => `${r.id} #${r.repetition}`).join(', ')}). `
      : '') +
    `Upstream: node:http, 1 KiB body, keep-alive. CPU µs/req is user+system time of the row's processes during the ${options.connections}-connection run ` +
    `(for "direct", the upstream's; nginx counts master and worker, plus the session check for auth_request; workers: auto counts the primary and its workers). ` +
    `Redis cmd/req: INFO commandstats before and after that run. RSS: all the row's processes. Errors: non-2xx answers and socket errors. ` +
    `Ratios compare requests/s.` +
    (run.skipped.length ? ` Left out (not installed): ${run.skipped.join(', ')}.` : '')
  );
}

function chartSubtitle(rows: readonly Row[], run: ReturnType<typeof machineFacts> & { load_average_after: number[] }): string {
  const others = rows.map((r) => r.median.othersCpuPct);
  const stolen = rows.map((r) => r.median.stolenPct);
  return (
    `${run.cores} shared cores (${run.cpu_model}), wrk @${options.connections} connections, medians of ${options.repeats} × ${options.seconds} s; ` +
    `load average ${run.load_average_before[0]} → ${run.load_average_after[0]}, other work ${Math.min(...others).toFixed(0)}–${Math.max(...others).toFixed(0)}%, stolen ${Math.min(...stolen).toFixed(0)}–${Math.max(...stolen).toFixed(0)}% of the machine`
  );
}

function checkAccessLogs(rows: readonly Row[]): void {
  for (const row of rows) {
    const lines = row.facts?.access_log_lines;
    const served = row.samples.reduce((sum, s) => sum + s.requests, 0);
    // Every measured request must have its access line, or the row measured a proxy that logs less than production.
    if (typeof lines === 'number' && lines < served) console.error(`bench: ${row.id} wrote ${lines} access log lines for ${served} measured requests`);
    // A crowd row whose requests did not come from its whole crowd measured fewer users than its label says.
    const crowd = row.facts?.crowd_users;
    const users = row.facts?.access_log_users;
    if (typeof crowd === 'number' && typeof users === 'number' && users < crowd) console.error(`bench: ${row.id} logged requests from ${users} users, not all ${crowd}`);
  }
}

/** One GET before any load: a fast wrong answer (a redirect to sign-in, a 403, an empty body) must not pass as a fast proxy. */
async function preflight(target: Target, run: RunningTarget): Promise<void> {
  const res = await request(run.url, { headers: { host: run.host, ...run.headers } });
  const body = await res.body.arrayBuffer();
  if (res.statusCode !== 200 || body.byteLength !== 1024) {
    throw new Error(`${target.id}: expected 200 with the upstream's 1024-byte body, got ${res.statusCode} with ${body.byteLength} bytes`);
  }
}

async function upstreamServed(shared: Shared): Promise<number> {
  const res = await request(new URL('/__bench/served', shared.upstreamUrl));
  return ((await res.body.json()) as { served: number }).served;
}

interface Snapshot {
  readonly target: ReturnType<typeof sumProcStats>;
  readonly upstreamCpuUs: number;
  readonly redisCpuUs: number;
  readonly redisCommands: number;
  readonly loadCpuUs: number;
  readonly machine: ReturnType<typeof machineCpu>;
  readonly served: number;
}

async function snapshot(pids: readonly number[], shared: Shared): Promise<Snapshot> {
  return {
    served: await upstreamServed(shared),
    redisCommands: shared.redis ? await shared.redis.commandsSoFar() : 0,
    target: sumProcStats(pids),
    upstreamCpuUs: procStats(shared.upstream!.pid).cpuUs,
    redisCpuUs: shared.redis?.pid ? procStats(shared.redis.pid).cpuUs : 0,
    loadCpuUs: reapedChildrenCpuUs(),
    machine: machineCpu(),
  };
}

async function measure(run: RunningTarget, shared: Shared): Promise<Sample> {
  // Taken now, not at start: a worker restarted since then has a new pid.
  const pids = measuredPids(run);
  const isUpstream = pids.includes(shared.upstream!.pid);
  const before = await snapshot(pids, shared);
  const high: LoadResult = await runLoad({ ...loadTarget(run), connections: options.connections, seconds: options.seconds });
  const after = await snapshot(pids, shared);
  await sleep(300);
  const oneBefore = await upstreamServed(shared);
  const one = await runLoad({ ...loadTarget(run), connections: 1, seconds: options.seconds });
  const oneServed = (await upstreamServed(shared)) - oneBefore;
  await sleep(300);

  const mb = (b: number) => b / 1024 / 1024;
  const perRequest = (us: number) => us / high.requests;
  const targetUs = after.target.cpuUs - before.target.cpuUs;
  const upstreamUs = after.upstreamCpuUs - before.upstreamCpuUs;
  const redisUs = after.redisCpuUs - before.redisCpuUs;
  const loadUs = after.loadCpuUs - before.loadCpuUs;
  const machineTotal = after.machine.totalUs - before.machine.totalUs;
  const machineBusy = after.machine.busyUs - before.machine.busyUs;
  const stolen = after.machine.stolenUs - before.machine.stolenUs;
  const ours = targetUs + (isUpstream ? 0 : upstreamUs) + redisUs + loadUs;
  // The snapshot's own INFO is counted by Redis too: one per measurement.
  const redisCommands = Math.max(0, after.redisCommands - before.redisCommands - 1);
  return {
    rps: high.rps,
    p50Ms: high.p50Ms,
    p99Ms: high.p99Ms,
    p50Ms1: one.p50Ms,
    p99Ms1: one.p99Ms,
    requests: high.requests + one.requests,
    badStatus: high.badStatus + one.badStatus,
    socketErrors: high.socketErrors + one.socketErrors,
    cpuUsPerRequest: perRequest(targetUs),
    sysCpuUsPerRequest: perRequest(after.target.sysUs - before.target.sysUs),
    upstreamCpuUsPerRequest: perRequest(upstreamUs),
    rssMb: mb(after.target.rssBytes),
    peakRssMb: mb(after.target.hwmBytes),
    redisCommandsPerRequest: run.usesRedis ? redisCommands / high.requests : 0,
    redisCpuUsPerRequest: run.usesRedis ? perRequest(redisUs) : 0,
    loadCpuUsPerRequest: perRequest(loadUs),
    machineBusyPct: (100 * machineBusy) / machineTotal,
    othersCpuPct: Math.max(0, (100 * (machineBusy - stolen - ours)) / machineTotal),
    stolenPct: (100 * stolen) / machineTotal,
    notForwarded: Math.max(0, high.requests - (after.served - before.served)) + Math.max(0, one.requests - oneServed),
  };
}

main().catch((err: Error) => {
  console.error(`bench: ${err.stack ?? err.message}`);
  process.exitCode = 1;
});
