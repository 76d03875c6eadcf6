// Drive load at a target from a separate process: wrk when installed, else autocannon.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runToCompletion } from './processes.ts';

export interface LoadOptions {
  readonly url: string;
  /** sent as the Host header */
  readonly host: string;
  readonly connections: number;
  readonly seconds: number;
  /** more request headers, such as a session Cookie or a device-posture token */
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * Many users (bench/crowd.ts): a file of Cookie header values, one per line, sent in turn
   * in place of any Cookie in headers. wrk only.
   */
  readonly cookieFile?: string;
}

/** Where and what a row is sent: what a RunningTarget says of itself. */
export type LoadTarget = Pick<LoadOptions, 'url' | 'host' | 'headers' | 'cookieFile'>;

/** A row's load target, so every load of it (warm-up, runs, soak) sends the same requests. */
export function loadTarget(t: LoadTarget): LoadTarget {
  return { url: t.url, host: t.host, headers: t.headers, cookieFile: t.cookieFile };
}

export interface LoadResult {
  readonly tool: 'wrk' | 'autocannon';
  readonly requests: number;
  readonly seconds: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** responses with a status of 400 or more (wrk) or outside 2xx (autocannon) */
  readonly badStatus: number;
  /** connect, read, write errors and timeouts */
  readonly socketErrors: number;
}

const WRK = process.env.BENCH_WRK ?? '/usr/bin/wrk';
const WRK_SCRIPT = fileURLToPath(new URL('./wrk-report.lua', import.meta.url));
const AUTOCANNON = fileURLToPath(new URL('../node_modules/autocannon/autocannon.js', import.meta.url));

export function loadTool(): 'wrk' | 'autocannon' {
  if (existsSync(WRK)) return 'wrk';
  if (existsSync(AUTOCANNON)) return 'autocannon';
  throw new Error(`neither wrk (${WRK}; set BENCH_WRK to its path) nor autocannon (npm install) is available`);
}

export function runLoad(o: LoadOptions): Promise<LoadResult> {
  return loadTool() === 'wrk' ? runWrk(o) : runAutocannon(o);
}

function run(command: string, args: string[], seconds: number, env?: NodeJS.ProcessEnv): Promise<string> {
  // Bounded: the tool stops itself after `seconds`; the timeout only catches a hang.
  return runToCompletion(command, args, (seconds + 30) * 1000, env);
}

async function runWrk(o: LoadOptions): Promise<LoadResult> {
  // One wrk thread: on a 2-core machine every extra thread takes CPU from the process measured.
  const threads = process.env.BENCH_WRK_THREADS ?? '1';
  const extra = Object.entries(o.headers ?? {}).flatMap(([name, value]) => ['-H', `${name}: ${value}`]);
  // The script reads the crowd's cookies from BENCH_WRK_COOKIES (bench/wrk-report.lua).
  const env = { ...process.env, BENCH_WRK_COOKIES: o.cookieFile ?? '' };
  const out = await run(WRK, ['-t', threads, '-c', String(o.connections), '-d', `${o.seconds}s`, '--timeout', '5s', '-s', WRK_SCRIPT, '-H', `Host: ${o.host}`, ...extra, o.url], o.seconds, env);
  const line = out.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
  if (!line) throw new Error(`wrk printed no result line:\n${out}`);
  const r = JSON.parse(line.slice('BENCH_RESULT '.length)) as Record<string, number>;
  const seconds = r.duration_us! / 1e6;
  return {
    tool: 'wrk',
    requests: r.requests!,
    seconds,
    rps: r.requests! / seconds,
    p50Ms: r.p50_us! / 1000,
    p99Ms: r.p99_us! / 1000,
    badStatus: r.status!,
    socketErrors: r.connect! + r.read! + r.write! + r.timeout!,
  };
}

async function runAutocannon(o: LoadOptions): Promise<LoadResult> {
  if (o.cookieFile) throw new Error('bench: a row with many users needs wrk (BENCH_WRK); autocannon sends one Cookie header');
  const extra = Object.entries(o.headers ?? {}).flatMap(([name, value]) => ['-H', `${name}=${value}`]);
  const out = await run(process.execPath, [AUTOCANNON, '-j', '-c', String(o.connections), '-d', String(o.seconds), '-H', `host=${o.host}`, ...extra, o.url], o.seconds);
  const r = JSON.parse(out) as { requests: { total: number }; duration: number; latency: { p50: number; p99: number }; non2xx: number; errors: number; timeouts: number };
  return {
    tool: 'autocannon',
    requests: r.requests.total,
    seconds: r.duration,
    rps: r.requests.total / r.duration,
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    badStatus: r.non2xx,
    socketErrors: r.errors + r.timeouts,
  };
}
