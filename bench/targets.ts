// The rows of the benchmark. Each target starts what it needs as separate processes and
// says where to send load (URL + Host header) and which process to measure.
// To add a row (protected routes with sessions, nginx, nginx auth_request, ...), add a Target.
import { closeSync, createReadStream, openSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { startProcess, stderrOf, stopProcess, waitForPortLine, type Started } from './processes.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
/** BENCH_PORTCULLIS_CLI points the Portcullis rows at another checkout's src/cli.ts, for before/after comparisons. */
const PORTCULLIS_CLI = process.env.BENCH_PORTCULLIS_CLI ?? join(REPO, 'src/cli.ts');

export interface BenchContext {
  /** the shared upstream every row ends at */
  readonly upstream: { readonly url: string; readonly pid: number };
  /** a fresh temp directory for configs and logs */
  readonly workDir: string;
  /** where Portcullis writes its access log: a file in workDir, or BENCH_LOG (e.g. /dev/null) */
  readonly logPath: string;
  /** when set, Node processes under test run with --cpu-prof and write their profiles here */
  readonly profileDir?: string;
}

export interface RunningTarget {
  readonly url: string;
  readonly host: string;
  /** the process whose CPU and memory the row reports */
  readonly pid: number;
  stop(): Promise<void>;
  /** facts to record once the target has stopped, e.g. how many access log lines it wrote */
  facts?(): Promise<Record<string, unknown>>;
}

export interface Target {
  /** stable id, used in BENCH_TARGETS and results/latest.json */
  readonly id: string;
  /** the row's label in the table */
  readonly label: string;
  start(ctx: BenchContext): Promise<RunningTarget>;
}

const BENCH_HOST = 'app.bench';

export const direct: Target = {
  id: 'direct',
  label: 'direct upstream',
  async start(ctx) {
    return { url: ctx.upstream.url, host: BENCH_HOST, pid: ctx.upstream.pid, stop: async () => {} };
  },
};

export const bareUndici: Target = {
  id: 'undici',
  label: 'bare undici forwarder',
  async start(ctx) {
    const proc = startProcess('reference forwarder', process.execPath, [...profileFlags(ctx, 'undici'), join(REPO, 'bench/reference-forwarder.ts'), ctx.upstream.url]);
    const port = await waitForPortLine(proc);
    return { url: `http://127.0.0.1:${port}/`, host: BENCH_HOST, pid: proc.pid, stop: () => stopProcess(proc) };
  },
};

export const portcullisPublic: Target = {
  id: 'portcullis-public',
  label: 'portcullis public route',
  async start(ctx) {
    const [port, opsPort] = [await freePort(), await freePort()];
    const configFile = join(ctx.workDir, 'portcullis-public.yaml');
    writeFileSync(
      configFile,
      `# written by bench/targets.ts
listen: { address: "127.0.0.1:${port}" }
ops: { address: "127.0.0.1:${opsPort}" }
public_url: http://access.bench
limits: { shutdown_timeout: 2s }
log: { level: info, access_log: true }
routes:
  - name: public
    from: http://${BENCH_HOST}
    to: ${ctx.upstream.url}
    public: true
`,
    );
    // Portcullis logs JSON to stdout, as in production; the bench points stdout at a file.
    const logFd = openSync(ctx.logPath, 'a');
    let proc: Started;
    try {
      proc = startProcess('portcullis', process.execPath, [...profileFlags(ctx, 'portcullis'), PORTCULLIS_CLI, 'start', '--config', configFile], ['ignore', logFd, 'pipe'], REPO);
    } finally {
      closeSync(logFd);
    }
    const url = `http://127.0.0.1:${port}/`;
    await waitUntilServing(proc, url, BENCH_HOST);
    return {
      url,
      host: BENCH_HOST,
      pid: proc.pid,
      stop: () => stopProcess(proc),
      facts: async () => ({ access_log: ctx.logPath, access_log_lines: ctx.logPath === '/dev/null' ? undefined : await countAccessLines(ctx.logPath) }),
    };
  },
};

/** Every row, in table order. The first two are the references the others are compared with. */
export const targets: readonly Target[] = [direct, bareUndici, portcullisPublic];

function profileFlags(ctx: BenchContext, name: string): string[] {
  return ctx.profileDir ? ['--cpu-prof', '--cpu-prof-dir', ctx.profileDir, '--cpu-prof-name', `${name}-${Date.now()}.cpuprofile`] : [];
}

/** A port that was free a moment ago, for processes that cannot report the one they bound. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function waitUntilServing(proc: Started, url: string, host: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null) throw new Error(`${proc.name} exited with ${proc.child.exitCode} before serving:\n${stderrOf(proc)}`);
    try {
      const res = await request(url, { headers: { host } });
      await res.body.dump();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${proc.name} did not answer on ${url} within ${timeoutMs} ms:\n${stderrOf(proc)}`);
}

async function countAccessLines(file: string): Promise<number> {
  let count = 0;
  let carry = '';
  for await (const chunk of createReadStream(file, { encoding: 'utf8' })) {
    const lines = (carry + chunk).split('\n');
    carry = lines.pop()!;
    for (const line of lines) if (line.includes('"type":"access"')) count++;
  }
  return count;
}
