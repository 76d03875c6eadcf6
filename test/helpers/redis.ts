// Redis for tests: the shared server on 127.0.0.1:6379 under a unique key
// prefix per test file, and private redis-server processes on free ports for
// tests that stop and start Redis.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';

export const SHARED_REDIS_URL = 'redis://127.0.0.1:6379/0';

/** A key prefix no other test file uses, such as "portcullis-test:3f9a1c0e7b:". */
export function uniquePrefix(label = 'test'): string {
  return `portcullis-${label}:${randomBytes(5).toString('hex')}:`;
}

function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

export async function keysWithPrefix(client: Redis, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await client.scan(cursor, 'MATCH', `${globEscape(prefix)}*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys;
}

export async function deleteKeysWithPrefix(prefix: string, url = SHARED_REDIS_URL): Promise<void> {
  const client = new Redis(url, { lazyConnect: true });
  try {
    await client.connect();
    const keys = await keysWithPrefix(client, prefix);
    if (keys.length) await client.unlink(...keys);
  } finally {
    client.disconnect();
  }
}

/** Every key under the prefix with its raw contents (string value, or set members), as Redis would dump them. */
export async function dumpKeys(prefix: string, url = SHARED_REDIS_URL): Promise<{ key: string; type: string; bytes: Buffer[] }[]> {
  const client = new Redis(url, { lazyConnect: true });
  try {
    await client.connect();
    const out: { key: string; type: string; bytes: Buffer[] }[] = [];
    for (const key of await keysWithPrefix(client, prefix)) {
      const type = await client.type(key);
      if (type === 'string') out.push({ key, type, bytes: [(await client.getBuffer(key))!] });
      else if (type === 'set') out.push({ key, type, bytes: await client.smembersBuffer(key) });
      else out.push({ key, type, bytes: [] });
    }
    return out;
  } finally {
    client.disconnect();
  }
}

export { freePort, freePorts } from './servers.ts';
import { freePort, freePorts } from './servers.ts';

/** One PING over a fresh socket; true on +PONG. */
export async function redisAnswers(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}

export interface PrivateRedis {
  readonly port: number;
  readonly url: string;
  /** stop the server (SIGKILL after 2 s if it does not exit) */
  stop(): Promise<void>;
  /** start it again on the same port and wait until it answers */
  start(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * A redis-server of our own on a free port, without persistence. Always call
 * stop() in afterAll; a process exit hook kills it too.
 */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;

  const start = async (): Promise<void> => {
    const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], {
      stdio: 'ignore',
    });
    child = proc;
    running.add(proc);
    proc.once('exit', () => running.delete(proc));
    for (let i = 0; i < 100; i++) {
      if (proc.exitCode !== null) throw new Error(`redis-server on port ${port} exited with code ${proc.exitCode}`);
      if (await redisAnswers(port)) return;
      await sleep(50);
    }
    throw new Error(`redis-server on port ${port} did not answer within 5 s`);
  };

  const stop = async (): Promise<void> => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGTERM');
    const killer = setTimeout(() => proc.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(killer);
  };

  await start();
  return { port, url: `redis://127.0.0.1:${port}/0`, stop, start };
}

export interface PrivateCluster {
  /** "127.0.0.1:port" of every master */
  readonly nodes: { host: string; port: number }[];
  stop(): Promise<void>;
}

/** Three masters, no replicas, on free ports, each in its own temp dir; ready when CLUSTER INFO says ok. */
export async function startPrivateCluster(): Promise<PrivateCluster> {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-cluster-'));
  // Each node also listens on a cluster bus port, port + 10000 unless told: that one can land
  // in the kernel's ephemeral range and be taken (a CI run lost a node that way), so the bus
  // ports are free ports of their own.
  const free = await freePorts(6);
  const ports = free.slice(0, 3);
  const busPorts = free.slice(3);
  const children: ChildProcess[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(
      children.map((proc) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return undefined;
        const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
        proc.kill('SIGKILL');
        return exited;
      }),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const [n, port] of ports.entries()) {
      const proc = spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--cluster-enabled', 'yes', '--cluster-port', String(busPorts[n]), '--cluster-config-file', `nodes-${port}.conf`, '--loglevel', 'warning'],
        { cwd: dir, stdio: 'ignore' },
      );
      children.push(proc);
      running.add(proc);
      proc.once('exit', () => running.delete(proc));
    }
    for (const [n, port] of ports.entries()) {
      for (let i = 0; !(await redisAnswers(port)); i++) {
        const exited = children[n]!.exitCode;
        if (exited !== null) throw new Error(`cluster node ${port} (bus ${busPorts[n]}) exited with code ${exited}`);
        if (i > 100) throw new Error(`cluster node ${port} (bus ${busPorts[n]}) did not start`);
        await sleep(50);
      }
    }
    const create = spawn('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { stdio: 'ignore' });
    const code = await new Promise<number | null>((resolve) => create.once('exit', resolve));
    if (code !== 0) throw new Error(`redis-cli --cluster create exited with ${code}`);
    const probe = new Redis(ports[0]!, '127.0.0.1');
    try {
      for (let i = 0; !String(await probe.cluster('INFO')).includes('cluster_state:ok'); i++) {
        if (i > 200) throw new Error('cluster did not reach cluster_state:ok');
        await sleep(50);
      }
    } finally {
      probe.disconnect();
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { nodes: ports.map((port) => ({ host: '127.0.0.1', port })), stop };
}
