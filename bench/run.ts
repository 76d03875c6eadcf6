// npm run bench: the proxy core against the same upstream served directly and through a
// bare undici forwarder, all on loopback, each in its own process, load from wrk.
//
// Environment:
//   BENCH_SECONDS=10         length of each measured run
//   BENCH_REPEATS=3          repetitions; the table shows medians
//   BENCH_WARMUP_SECONDS=3   one warm-up run per target before measuring (0 to skip)
//   BENCH_CONNECTIONS=64     the high connection count (the low one is always 1)
//   BENCH_TARGETS=a,b        only these target ids (default: all; see bench/targets.ts)
//   BENCH_LOG=/dev/null      where Portcullis's access log goes (default: a temp file)
//   BENCH_PROFILE=1          run Node targets under --cpu-prof, profiles in bench/results/profiles
//   BENCH_PORTCULLIS_CLI=... another checkout's src/cli.ts, to compare before and after a change
//   BENCH_KEEP=1             keep the temp directory (configs, access log)
import { cpus, loadavg, tmpdir } from 'node:os';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { installCleanup, procStats, startProcess, stopProcess, waitForPortLine, type Started } from './processes.ts';
import { loadTool, runLoad, type LoadResult } from './load.ts';
import { targets, type BenchContext, type RunningTarget, type Target } from './targets.ts';
import { buildRows, consoleTable, markdownTable, type Sample } from './report.ts';

const RESULTS = fileURLToPath(new URL('./results/', import.meta.url));

const options = {
  seconds: positiveNumber('BENCH_SECONDS', 10),
  repeats: positiveNumber('BENCH_REPEATS', 3),
  warmupSeconds: positiveNumber('BENCH_WARMUP_SECONDS', 3, true),
  connections: positiveNumber('BENCH_CONNECTIONS', 64),
  targetIds: process.env.BENCH_TARGETS?.split(',').map((s) => s.trim()).filter(Boolean),
  profile: process.env.BENCH_PROFILE === '1',
  keep: process.env.BENCH_KEEP === '1',
};

function positiveNumber(name: string, fallback: number, zeroOk = false): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0 || (n === 0 && !zeroOk)) throw new Error(`${name}=${text}: expected a ${zeroOk ? 'non-negative' : 'positive'} number`);
  return n;
}

function machineFacts() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  return {
    date: new Date().toISOString(),
    node: process.version,
    cores: cpus().length,
    cpu_model: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? cpus()[0]?.model ?? 'unknown',
    load_average_before: loadavg().map((v) => Math.round(v * 100) / 100),
    load_tool: loadTool(),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const machine = machineFacts();
  const selected = options.targetIds ? targets.filter((t) => options.targetIds!.includes(t.id)) : targets;
  if (selected.length === 0) throw new Error(`BENCH_TARGETS matches none of: ${targets.map((t) => t.id).join(', ')}`);
  const workDir = mkdtempSync(join(tmpdir(), 'portcullis-bench-'));
  const profileDir = options.profile ? join(RESULTS, 'profiles') : undefined;
  if (profileDir) mkdirSync(profileDir, { recursive: true });

  let upstream: Started | undefined;
  const running: { target: Target; run: RunningTarget }[] = [];
  let stopped = false;
  const stopAll = async () => {
    if (stopped) return;
    stopped = true;
    // Targets first (they hold connections to the upstream), in reverse start order.
    for (const { run } of [...running].reverse()) await run.stop().catch(() => {});
    if (upstream) await stopProcess(upstream);
  };
  const removeWorkDir = () => {
    if (!options.keep) rmSync(workDir, { recursive: true, force: true });
  };
  installCleanup(() => stopAll().then(removeWorkDir));

  try {
    upstream = startProcess('upstream', process.execPath, [fileURLToPath(new URL('./upstream.ts', import.meta.url))]);
    const upstreamUrl = `http://127.0.0.1:${await waitForPortLine(upstream)}/`;
    const ctx: BenchContext = { upstream: { url: upstreamUrl, pid: upstream.pid }, workDir, logPath: process.env.BENCH_LOG ?? join(workDir, 'access.log'), profileDir };

    for (const target of selected) {
      running.push({ target, run: await target.start(ctx) });
      await preflight(target, running.at(-1)!.run);
    }
    console.error(`bench: ${machine.cores} cores, ${machine.cpu_model}, load ${machine.load_average_before.join(' ')}, node ${machine.node}, ${machine.load_tool}`);
    console.error(`bench: ${selected.length} targets × ${options.repeats} repeats × (${options.seconds}s @${options.connections} + ${options.seconds}s @1 connection)`);

    if (options.warmupSeconds > 0) {
      for (const { target, run } of running) {
        console.error(`bench: warm-up ${target.id}`);
        await runLoad({ url: run.url, host: run.host, connections: options.connections, seconds: options.warmupSeconds });
      }
    }

    // Repetitions go round the targets, so a slow minute on a shared machine hurts every row alike.
    const samples = new Map<string, Sample[]>(running.map(({ target }) => [target.id, []]));
    for (let rep = 1; rep <= options.repeats; rep++) {
      for (const { target, run } of running) {
        const sample = await measure(run, upstream.pid);
        samples.get(target.id)!.push(sample);
        console.error(`bench: run ${rep}/${options.repeats} ${target.id.padEnd(18)} ${Math.round(sample.rps)} req/s, p99 ${sample.p99Ms.toFixed(2)} ms, ${sample.cpuUsPerRequest.toFixed(1)} µs CPU/req`);
      }
    }

    await stopAll();
    const rows = buildRows(
      await Promise.all(running.map(async ({ target, run }) => ({ id: target.id, label: target.label, samples: samples.get(target.id)!, facts: await run.facts?.() }))),
    );

    const table = consoleTable(rows, options.connections);
    console.log(`\n${table}\n`);
    const settings = { seconds: options.seconds, repeats: options.repeats, warmup_seconds: options.warmupSeconds, connections: [1, options.connections] };
    mkdirSync(RESULTS, { recursive: true });
    writeFileSync(join(RESULTS, 'latest.json'), JSON.stringify({ machine, settings, rows }, null, 2) + '\n');
    writeFileSync(
      join(RESULTS, 'latest.md'),
      `${markdownTable(rows, options.connections)}\n\n` +
        `Medians of ${options.repeats} runs of ${options.seconds} s (${machine.load_tool}, 1 thread) on ${machine.cores} × ${machine.cpu_model}, Node ${machine.node}, ` +
        `load average ${machine.load_average_before.join(' ')} before the run, ${machine.date.slice(0, 10)}. ` +
        `Upstream: node:http, 1 KiB body, keep-alive. CPU µs/req is the measured process's user+system time during the ${options.connections}-connection run ` +
        `(for "direct", the upstream's). Ratios compare requests/s.\n`,
    );
    console.error(`bench: wrote ${join(RESULTS, 'latest.json')} and latest.md`);
    for (const row of rows) {
      const lines = row.facts?.access_log_lines;
      const served = row.samples.reduce((sum, s) => sum + s.requests, 0);
      // Every measured request must have its access line, or the row measured a proxy that logs less than production.
      if (typeof lines === 'number' && lines < served) console.error(`bench: ${row.id} wrote ${lines} access log lines for ${served} measured requests`);
    }
    const bad = rows.filter((r) => r.samples.some((s) => s.badStatus + s.socketErrors > 0));
    if (bad.length) {
      console.error(`bench: errors or non-2xx answers in: ${bad.map((r) => r.id).join(', ')}; these numbers are not comparable`);
      process.exitCode = 1;
    }
  } finally {
    await stopAll();
    removeWorkDir();
  }
}

/** One GET before any load: a fast wrong answer (a 404, an empty body) must not pass as a fast proxy. */
async function preflight(target: Target, run: RunningTarget): Promise<void> {
  const res = await request(run.url, { headers: { host: run.host } });
  const body = await res.body.arrayBuffer();
  if (res.statusCode !== 200 || body.byteLength !== 1024) {
    throw new Error(`${target.id}: expected 200 with the upstream's 1024-byte body, got ${res.statusCode} with ${body.byteLength} bytes`);
  }
}

async function measure(run: RunningTarget, upstreamPid: number): Promise<Sample> {
  const before = procStats(run.pid);
  const upBefore = procStats(upstreamPid);
  const high: LoadResult = await runLoad({ url: run.url, host: run.host, connections: options.connections, seconds: options.seconds });
  const after = procStats(run.pid);
  const upAfter = procStats(upstreamPid);
  await sleep(300);
  const one = await runLoad({ url: run.url, host: run.host, connections: 1, seconds: options.seconds });
  await sleep(300);
  const mb = (b: number) => b / 1024 / 1024;
  return {
    rps: high.rps,
    p50Ms: high.p50Ms,
    p99Ms: high.p99Ms,
    p50Ms1: one.p50Ms,
    p99Ms1: one.p99Ms,
    requests: high.requests + one.requests,
    badStatus: high.badStatus + one.badStatus,
    socketErrors: high.socketErrors + one.socketErrors,
    cpuUsPerRequest: (after.cpuUs - before.cpuUs) / high.requests,
    upstreamCpuUsPerRequest: (upAfter.cpuUs - upBefore.cpuUs) / high.requests,
    rssMb: mb(after.rssBytes),
    peakRssMb: mb(after.hwmBytes),
  };
}

main().catch((err: Error) => {
  console.error(`bench: ${err.stack ?? err.message}`);
  process.exitCode = 1;
});
