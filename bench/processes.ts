// Child processes of the benchmark: start, wait until ready, stop; and make sure
// every one of them is stopped when the run ends, fails or is interrupted.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { execFile, execFileSync } from 'node:child_process';

const live = new Set<ChildProcess>();

export interface Started {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** a process reading this one's stdout through a pipe (BENCH_LOG_PIPE); stopProcess waits until it has written everything */
  readonly logReader?: ChildProcess;
}

export function startProcess(name: string, command: string, args: readonly string[], stdio: StdioOptions = ['ignore', 'pipe', 'pipe'], cwd?: string): Started {
  const child = spawn(command, args, { stdio, cwd });
  if (child.pid === undefined) throw new Error(`could not start ${name} (${command})`);
  live.add(child);
  child.once('exit', () => live.delete(child));
  // Keep the last stderr lines so a failed start can say why.
  const tail: string[] = [];
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    tail.push(d);
    if (tail.length > 20) tail.shift();
  });
  (child as ChildProcess & { stderrTail?: string[] }).stderrTail = tail;
  return { name, child, pid: child.pid };
}

export function stderrOf(s: Started): string {
  return ((s.child as ChildProcess & { stderrTail?: string[] }).stderrTail ?? []).join('').trim();
}

/** Wait for the first stdout line that parses as {"port":N}: the process's readiness signal. */
export function waitForPortLine(s: Started, timeoutMs = 15_000): Promise<number> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => fail(`no port line within ${timeoutMs} ms`), timeoutMs);
    const fail = (why: string) => {
      clearTimeout(timer);
      reject(new Error(`${s.name} did not start: ${why}\n${stderrOf(s)}`));
    };
    s.child.once('exit', (code) => fail(`exited with ${code}`));
    s.child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buffered += d;
      for (const line of buffered.split('\n').slice(0, -1)) {
        try {
          const port = (JSON.parse(line) as { port?: number }).port;
          if (typeof port === 'number') {
            clearTimeout(timer);
            return resolve(port);
          }
        } catch {
          // not our line
        }
      }
    });
  });
}

/** SIGTERM, then SIGKILL after graceMs. Resolves once the process has exited. */
export async function stopProcess(s: Started, graceMs = 8_000): Promise<void> {
  await stopChild(s.child, 'SIGTERM', graceMs);
  // The reader ends once every writer of the pipe has gone: the whole log is in its file then.
  if (s.logReader) await stopChild(s.logReader, undefined, graceMs);
}

/** Send `signal` (none: just wait), and SIGKILL after graceMs. */
function stopChild(child: ChildProcess, signal: NodeJS.Signals | undefined, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(killer);
      resolve();
    });
    if (signal) child.kill(signal);
  });
}

/** Run a command to completion and return its stdout; tracked, so an interrupted run kills it too. */
export function runToCompletion(command: string, args: readonly string[], timeoutMs: number, env?: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, env }, (err, stdout, stderr) => {
      live.delete(child);
      if (err) reject(new Error(`${command} failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
    live.add(child);
  });
}

/** Last resort on the way out: kill whatever is still running, synchronously. */
export function killAllNow(): void {
  for (const child of live) child.kill('SIGKILL');
}

/**
 * Run cleanup on Ctrl+C, SIGTERM and crashes; and kill any straggler when the process exits,
 * whatever the reason.
 */
export function installCleanup(cleanup: () => Promise<void>): void {
  let running = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (running) return killAllNow();
    running = true;
    process.stderr.write(`\nbench: ${signal}, stopping everything it started\n`);
    const hardStop = setTimeout(() => {
      killAllNow();
      process.exit(130);
    }, 15_000);
    cleanup().finally(() => {
      clearTimeout(hardStop);
      process.exit(130);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', killAllNow);
}

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

export interface ProcStats {
  /** user + system CPU time of all the process's threads, microseconds */
  readonly cpuUs: number;
  /** of which system (kernel) time */
  readonly sysUs: number;
  readonly rssBytes: number;
  /** peak RSS so far */
  readonly hwmBytes: number;
}

export function procStats(pid: number): ProcStats {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may contain spaces; the fields after it are fixed.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { cpuUs: ((utime + stime) * 1_000_000) / CLOCK_TICKS, sysUs: (stime * 1_000_000) / CLOCK_TICKS, rssBytes: kb('VmRSS'), hwmBytes: kb('VmHWM') };
}

/** The process and all its descendants (a Portcullis primary and its workers; nginx's master and worker). */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${out[i]}/task`);
    } catch {
      continue; // gone meanwhile
    }
    for (const tid of tasks) {
      try {
        for (const child of readFileSync(`/proc/${out[i]}/task/${tid}/children`, 'utf8').split(' ')) if (child.trim()) out.push(Number(child));
      } catch {
        // thread ended meanwhile
      }
    }
  }
  return out;
}

/** procStats added up over several processes; one that has exited counts as zero. */
export function sumProcStats(pids: readonly number[]): ProcStats {
  let cpuUs = 0;
  let sysUs = 0;
  let rssBytes = 0;
  let hwmBytes = 0;
  for (const pid of pids) {
    try {
      const s = procStats(pid);
      cpuUs += s.cpuUs;
      sysUs += s.sysUs;
      rssBytes += s.rssBytes;
      hwmBytes += s.hwmBytes;
    } catch {
      // exited
    }
  }
  return { cpuUs, sysUs, rssBytes, hwmBytes };
}

/** CPU time of this process's children that have exited and been waited for (wrk runs), microseconds. */
export function reapedChildrenCpuUs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[13]) + Number(fields[14])) * 1_000_000) / CLOCK_TICKS;
}

/**
 * Time of all cores since boot (/proc/stat), microseconds: in use, in all, and stolen, i.e. time this
 * virtual machine was ready to run but the hypervisor ran another guest instead. Stolen time
 * counts as in use: the cores were not free for this machine's work.
 */
export function machineCpu(): { busyUs: number; totalUs: number; stolenUs: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const [, ...values] = line.trim().split(/\s+/);
  const ticks = values.slice(0, 8).map(Number); // user nice system idle iowait irq softirq steal
  const total = ticks.reduce((a, b) => a + b, 0);
  const idle = ticks[3]! + ticks[4]!;
  const us = (t: number) => (t * 1_000_000) / CLOCK_TICKS;
  return { busyUs: us(total - idle), totalUs: us(total), stolenUs: us(ticks[7] ?? 0) };
}
