// A real Redis Sentinel set on loopback for fail-over tests: one primary, one
// replica and three sentinels (quorum 2) on free ports, each sentinel with its
// own generated config file in a temp dir. Everything is killed by stop(), and
// by a process exit hook should a test crash first.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { freePorts, redisAnswers } from './redis.ts';

export const MASTER_NAME = 'mymaster';

export interface SentinelSet {
  readonly masterName: string;
  readonly primaryPort: number;
  readonly replicaPort: number;
  readonly sentinels: { host: string; port: number }[];
  /** SIGKILL the primary, as a crashed machine would go */
  killPrimary(): Promise<void>;
  /** the port the sentinels currently name as primary */
  currentPrimaryPort(): Promise<number>;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

function spawnRedis(args: string[], cwd: string): ChildProcess {
  // `redis-server FILE --sentinel` is what the redis-sentinel binary runs; Debian ships that binary separately.
  const child = spawn('redis-server', args, { cwd, stdio: 'ignore' });
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await exited;
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`sentinel set: ${what} within ${timeoutMs} ms`);
    await sleep(100);
  }
}

export async function startSentinelSet(): Promise<SentinelSet> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-sentinel-'));
  const [primaryPort, replicaPort, ...sentinelPorts] = (await freePorts(5)) as [number, number, number, number, number];
  const children: ChildProcess[] = [];
  const common = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'];
  let primary: ChildProcess | undefined;

  const stop = async (): Promise<void> => {
    await Promise.all(children.map(kill));
    rmSync(dir, { recursive: true, force: true });
  };

  const query = async <T>(port: number, fn: (client: Redis) => Promise<T>): Promise<T> => {
    const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => {});
    try {
      await client.connect();
      return await fn(client);
    } finally {
      client.disconnect();
    }
  };

  try {
    primary = spawnRedis(['--port', String(primaryPort), ...common], dir);
    children.push(primary);
    await waitFor('primary did not answer', () => redisAnswers(primaryPort), 5000);
    children.push(spawnRedis(['--port', String(replicaPort), ...common, '--replicaof', '127.0.0.1', String(primaryPort)], dir));
    await waitFor('replica did not finish its first sync', () => query(replicaPort, async (c) => (await c.info('replication')).includes('master_link_status:up')), 10_000);

    sentinelPorts.forEach((port, i) => {
      const file = join(dir, `sentinel-${i}.conf`);
      // Sentinel rewrites its file (known replicas, other sentinels, epochs), so each gets its own writable copy.
      writeFileSync(
        file,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          // Everything is an IP on loopback; sentinels see and announce each other as 127.0.0.1.
          'sentinel resolve-hostnames no',
          'sentinel announce-hostnames no',
          `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${primaryPort} 2`,
          `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
          `sentinel failover-timeout ${MASTER_NAME} 3000`,
          `sentinel parallel-syncs ${MASTER_NAME} 1`,
          '',
        ].join('\n'),
      );
      children.push(spawnRedis([file, '--sentinel', '--loglevel', 'warning'], dir));
    });
    // Ready when every sentinel knows the replica and the two other sentinels (hello messages every 2 s).
    for (const port of sentinelPorts) {
      await waitFor(`sentinel ${port} did not discover the replica and its peers`, () =>
        query(port, async (c) => {
          const replicas = (await c.call('SENTINEL', 'REPLICAS', MASTER_NAME)) as unknown[];
          const peers = (await c.call('SENTINEL', 'SENTINELS', MASTER_NAME)) as unknown[];
          return replicas.length === 1 && peers.length === 2;
        }), 15_000);
    }
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    masterName: MASTER_NAME,
    primaryPort,
    replicaPort,
    sentinels: sentinelPorts.map((port) => ({ host: '127.0.0.1', port })),
    killPrimary: () => kill(primary!),
    currentPrimaryPort: () =>
      query(sentinelPorts[0]!, async (c) => Number(((await c.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME)) as string[])[1])),
    stop,
  };
}
