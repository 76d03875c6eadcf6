// `workers: auto | N`: several processes serving on the same sockets.
//
// With more than one worker, `portcullis start` becomes a primary that does
// no request work: it forks N workers with node:cluster (they share the
// listening sockets, connections are handed out round-robin), restarts a
// worker that dies, forwards SIGHUP to every worker, and on SIGTERM/SIGINT
// tells each worker to drain and waits for them. Each worker is an ordinary
// Portcullis (src/server.ts) with its own config, watcher and connections.
//
// The ops listener is shared too, so a probe or scrape lands on any worker.
// /healthz, /readyz and the admin API answer the same from every worker
// (sessions live in Redis); for /metrics the answering worker asks the
// primary, which gathers every worker's metrics and adds them up with
// prom-client's AggregatorRegistry.aggregate, so one scrape sees them all.
//
// Logs: when stdout is a pipe, each worker writes into a pipe of its own and the
// primary copies whole lines from them to stdout (relayLines in src/log.ts); when
// it is a regular file, the workers append to it themselves.
import cluster, { type Worker } from 'node:cluster';
import { fstatSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { RawConfig } from './config/schema.ts';
import { createLogger, LogDestination, relayLines, type Logger } from './log.ts';
import type { Portcullis, StartOptions } from './server.ts';

const STARTED = 'portcullis:worker-started';
const METRICS_REQUEST = 'portcullis:metrics-request';
const METRICS_REPLY = 'portcullis:metrics-reply';
/** primary -> every worker: send your metrics as JSON; and the answer */
const METRICS_COLLECT = 'portcullis:metrics-collect';
const METRICS_COLLECTED = 'portcullis:metrics-collected';
/** a worker that has not answered by then (dying, say) is left out of that scrape rather than stalling it */
const COLLECT_TIMEOUT_MS = 2000;

/** "auto" is one worker per CPU this process may use. */
export function resolveWorkerCount(setting: RawConfig['workers'], cpus: number = availableParallelism()): number {
  return setting === 'auto' ? Math.max(1, cpus) : setting;
}

/**
 * Pure: what several workers need that one process does not. Each worker has
 * its own memory, so anything kept or generated per process must come from
 * the configuration or from Redis instead.
 */
export function workersConfigProblems(raw: RawConfig): { path: PropertyKey[]; message: string }[] {
  if (raw.workers === 1 || !raw.identity_provider) return [];
  const n = `workers: ${raw.workers}`;
  const problems: { path: PropertyKey[]; message: string }[] = [];
  if (raw.session.store === 'memory') {
    problems.push({
      path: ['workers'],
      message: `${n} needs session.store: redis: in-memory sessions live in one worker, so a user signed in on one worker would be asked to sign in again on the next`,
    });
  }
  if (!raw.cookie.secret) {
    problems.push({ path: ['cookie', 'secret'], message: `${n} needs cookie.secret: without it each worker picks its own, and a sign-in started on one worker fails on another` });
  }
  if (raw.identity.assertion.signing_keys.length === 0) {
    problems.push({
      path: ['identity', 'assertion', 'signing_keys'],
      message: `${n} needs identity.assertion.signing_keys: without them each worker generates its own key and upstreams see assertions they cannot verify; create one with: openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out assertion.pem`,
    });
  }
  return problems;
}

/**
 * In `portcullis start`: when the configuration asks for several workers and
 * this is not already a worker, run as their primary until stopped and
 * return the exit code. Undefined: serve in this process. Throws
 * ConfigError like startPortcullis would.
 */
export async function runPrimaryIfConfigured(configFile: string): Promise<number | undefined> {
  if (cluster.isWorker) return undefined;
  // Imported here, not at the top: compile.ts imports this module for workersConfigProblems.
  const { loadConfigFile } = await import('./config/load.ts');
  const { compileConfig } = await import('./config/compile.ts');
  const loaded = loadConfigFile(configFile);
  const count = resolveWorkerCount(loaded.raw.workers);
  if (count <= 1) return undefined;
  // Every problem now, once, rather than N workers each failing with the same list.
  const config = compileConfig(loaded);
  // The primary writes its own lines and its workers' (relayLines) through one destination.
  const log = new LogDestination(1);
  return runPrimary(configFile, count, config.limits.shutdown_timeout, createLogger({ level: config.log.level, destination: log }), log);
}

/** Start options for a worker: /metrics answered with every worker's metrics. */
export function workerStartOptions(): Partial<StartOptions> {
  return cluster.isWorker ? { clusterMetrics: askPrimaryForMetrics } : {};
}

/** In a worker, once serving: offer this worker's metrics to the primary and say it is up. */
export async function joinCluster(portcullis: Portcullis): Promise<void> {
  if (!cluster.isWorker) return;
  const { Counter } = await import('prom-client');
  const { metrics } = portcullis;
  const worker = String(cluster.worker?.id ?? 0);
  const pid = String(process.pid);
  // How the load spreads over workers; also how an operator (and the tests) see that each one serves.
  new Counter({
    name: 'portcullis_worker_requests_total',
    help: 'Requests answered by each worker process (only with workers > 1)',
    labelNames: ['worker', 'pid'] as const,
    registers: [metrics.registry],
    async collect() {
      const { values } = await metrics.requests.get();
      this.reset();
      this.inc({ worker, pid }, values.reduce((sum, v) => sum + v.value, 0));
    },
  });
  process.on('message', (message: { type?: string; id?: number }) => {
    if (message?.type !== METRICS_COLLECT) return;
    metrics.registry.getMetricsAsJSON().then(
      (json) => process.send?.({ type: METRICS_COLLECTED, id: message.id, metrics: json }),
      () => process.send?.({ type: METRICS_COLLECTED, id: message.id, metrics: [] }),
    );
  });
  process.send?.({ type: STARTED });
}

const pendingMetrics = new Map<number, { resolve: (text: string) => void; reject: (err: Error) => void; timer: NodeJS.Timeout }>();
let nextMetricsRequest = 0;

function askPrimaryForMetrics(): Promise<string> {
  if (pendingMetrics.size === 0) process.on('message', onMetricsReply);
  const id = nextMetricsRequest++;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => settle(id, new Error('the primary did not gather the metrics of every worker within 6 s')), 6000);
    pendingMetrics.set(id, { resolve, reject, timer });
    process.send?.({ type: METRICS_REQUEST, id });
  });
}

function onMetricsReply(message: { type?: string; id?: number; text?: string; error?: string }): void {
  if (message?.type !== METRICS_REPLY || typeof message.id !== 'number') return;
  settle(message.id, message.error === undefined ? (message.text ?? '') : new Error(message.error));
}

function settle(id: number, outcome: string | Error): void {
  const pending = pendingMetrics.get(id);
  if (!pending) return;
  pendingMetrics.delete(id);
  clearTimeout(pending.timer);
  if (pendingMetrics.size === 0) process.off('message', onMetricsReply);
  if (outcome instanceof Error) pending.reject(outcome);
  else pending.resolve(outcome);
}

/** A worker that lived this long before dying is restarted at once; quicker deaths back off. */
const HEALTHY_LIFETIME_MS = 10_000;
const MAX_RESTART_DELAY_MS = 5_000;

/** How long the primary, once every worker has exited, waits for the rest of their logs. */
const LOG_DRAIN_MS = 2000;

async function runPrimary(configFile: string, count: number, shutdownTimeoutMs: number, logger: Logger, log: LogDestination): Promise<number> {
  const gatherMetrics = await metricsGatherer((worker) => startedAt.has(worker.id));
  const startedAt = new Map<number, number>(); // worker id -> when it reported serving
  let everyWorkerStarted = false;
  let stopping = false;
  let restartDelay = 0;
  let shutdownTimeout = shutdownTimeoutMs;

  // Workers must not interleave inside a line. A regular file never mixes two writes, so
  // there they write their batches to stdout themselves. Anything else (a pipe to Docker or
  // systemd, say) takes only writes of up to 4 KiB whole: there each worker's stdout is a
  // pipe of its own, which the primary copies into its stdout a whole line at a time.
  const relay = !isRegularFile(1);
  cluster.setupPrimary({ stdio: ['ignore', relay ? 'pipe' : 'inherit', 'inherit', 'ipc'] });
  const relays = new Set<Promise<void>>();

  const fork = (): Worker => {
    const worker = cluster.fork();
    const stdout = worker.process.stdout;
    if (relay && stdout) {
      const copied = relayLines(stdout, log).finally(() => relays.delete(copied));
      relays.add(copied);
    }
    // A message to a worker that has just died fails with an 'error' event; without a listener it would stop the primary.
    worker.on('error', (err: Error) => logger.warn({ type: 'workers', worker: worker.id, error: err.message }, 'cannot reach worker'));
    logger.info({ type: 'workers', worker: worker.id, pid: worker.process.pid }, 'worker forked');
    return worker;
  };

  return new Promise<number>((resolveExit) => {
    const finishWhenAllGone = (code: number): void => {
      if (Object.keys(cluster.workers ?? {}).length > 0) return;
      // A worker's last lines can still be in its pipe when it has exited.
      const drained = new Promise<void>((r) => setTimeout(r, LOG_DRAIN_MS).unref());
      void Promise.race([Promise.all(relays), drained]).then(() => {
        logger.info({ type: 'shutdown' }, 'every worker stopped');
        logger.flush();
        resolveExit(code);
      });
    };
    let exitCode = 0;
    const stop = (reason: string, code: number): void => {
      if (stopping) return;
      stopping = true;
      exitCode = code;
      logger.info({ type: 'shutdown', reason, timeout_ms: shutdownTimeout }, 'telling every worker to drain');
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
      // Workers stop by themselves within their shutdown timeout; this is the backstop.
      setTimeout(() => {
        for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
      }, shutdownTimeout + 5000).unref();
      finishWhenAllGone(code);
    };

    cluster.on('message', (worker: Worker, message: { type?: string; id?: number }) => {
      if (message?.type === STARTED) {
        startedAt.set(worker.id, Date.now());
        if (!everyWorkerStarted && startedAt.size >= count) {
          everyWorkerStarted = true;
          logger.info({ type: 'workers', workers: count, pid: process.pid }, `${count} workers serving`);
        }
      } else if (message?.type === METRICS_REQUEST) {
        gatherMetrics().then(
          (text) => worker.isConnected() && worker.send({ type: METRICS_REPLY, id: message.id, text }),
          (err: Error) => worker.isConnected() && worker.send({ type: METRICS_REPLY, id: message.id, error: err.message }),
        );
      }
    });

    cluster.on('exit', (worker: Worker, code: number | null, signal: string | null) => {
      const served = startedAt.get(worker.id);
      startedAt.delete(worker.id);
      if (stopping) return finishWhenAllGone(exitCode);
      logger.warn({ type: 'workers', worker: worker.id, pid: worker.process.pid, code, signal }, 'worker died');
      if (!everyWorkerStarted) {
        // At start-up a dying worker means the others will die the same way (a port in use, say): say so and stop.
        logger.error({ type: 'workers' }, 'a worker failed while starting; stopping (its error is logged above)');
        return stop('worker failed at start-up', 1);
      }
      const lived = served === undefined ? 0 : Date.now() - served;
      restartDelay = lived >= HEALTHY_LIFETIME_MS ? 0 : Math.min(Math.max(restartDelay * 2, 100), MAX_RESTART_DELAY_MS);
      setTimeout(() => stopping || fork(), restartDelay);
    });

    process.on('SIGHUP', () => {
      logger.info({ type: 'signal', signal: 'SIGHUP' }, 'received SIGHUP; every worker reloads the configuration');
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGHUP');
      void rereadShutdownTimeout(configFile).then((ms) => (shutdownTimeout = ms ?? shutdownTimeout));
    });
    process.once('SIGTERM', () => stop('SIGTERM', 0));
    process.once('SIGINT', () => stop('SIGINT', 0));

    for (let i = 0; i < count; i++) fork();
  });
}

function isRegularFile(fd: number): boolean {
  try {
    return fstatSync(fd).isFile();
  } catch {
    return false;
  }
}

/** The new limits.shutdown_timeout after a reload; undefined when the file is invalid (the workers log why and keep their configuration). */
async function rereadShutdownTimeout(configFile: string): Promise<number | undefined> {
  try {
    const { loadConfigFile } = await import('./config/load.ts');
    const { compileConfig } = await import('./config/compile.ts');
    return compileConfig(loadConfigFile(configFile)).limits.shutdown_timeout;
  } catch {
    return undefined;
  }
}

/**
 * In the primary: every worker's metrics, added up (counters and histograms
 * summed, per-worker labels kept apart). prom-client's own
 * AggregatorRegistry.clusterMetrics waits 5 s for a worker that died mid-scrape
 * and then fails the whole scrape; this one answers with the workers that did.
 */
async function metricsGatherer(isServing: (worker: Worker) => boolean): Promise<() => Promise<string>> {
  const { AggregatorRegistry } = await import('prom-client');
  type Collected = Parameters<typeof AggregatorRegistry.aggregate>[0][number];
  const pending = new Map<number, { waitingFor: Set<number>; responses: Collected[]; finish: () => void }>();
  let nextId = 0;

  const answered = (requestId: number, workerId: number, metrics?: Collected) => {
    const request = pending.get(requestId);
    if (!request || !request.waitingFor.delete(workerId)) return;
    if (metrics) request.responses.push(metrics);
    if (request.waitingFor.size === 0) request.finish();
  };
  cluster.on('message', (worker: Worker, message: { type?: string; id?: number; metrics?: Collected }) => {
    if (message?.type === METRICS_COLLECTED && typeof message.id === 'number') answered(message.id, worker.id, message.metrics);
  });
  cluster.on('exit', (worker: Worker) => {
    for (const id of pending.keys()) answered(id, worker.id);
  });

  return () =>
    new Promise<string>((resolve, reject) => {
      const id = nextId++;
      // A worker still starting has no metrics yet and would only make the scrape wait.
      const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w && w.isConnected() && isServing(w));
      const request = {
        waitingFor: new Set(workers.map((w) => w.id)),
        responses: [] as Collected[],
        finish: () => {
          clearTimeout(timer);
          pending.delete(id);
          AggregatorRegistry.aggregate(request.responses).metrics().then(resolve, reject);
        },
      };
      const timer = setTimeout(request.finish, COLLECT_TIMEOUT_MS);
      pending.set(id, request);
      for (const worker of workers) worker.send({ type: METRICS_COLLECT, id });
      if (workers.length === 0) request.finish();
    });
}
