// Real servers on loopback for integration tests: upstreams, config files, Portcullis itself.
import http from 'node:http';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { startPortcullis, type Portcullis, type StartOptions } from '../../src/server.ts';

export interface Upstream {
  readonly server: http.Server;
  readonly url: string;
  readonly port: number;
  /** every request the upstream received, in order */
  readonly received: { method: string; url: string; headers: http.IncomingHttpHeaders; rawHeaders: string[] }[];
  close(): Promise<void>;
}

export type UpstreamHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** An HTTP upstream on 127.0.0.1:0 that records what it received and, by default, echoes it as JSON. */
export async function startUpstream(handler?: UpstreamHandler): Promise<Upstream> {
  const received: Upstream['received'] = [];
  const server = http.createServer((req, res) => {
    received.push({ method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders });
    if (handler) return handler(req, res);
    const body = JSON.stringify({ method: req.method, url: req.url, headers: req.headers });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    port,
    received,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

/**
 * A port nothing listens on, for a server that must know its port before it starts. Taken
 * below the kernel's ephemeral range: a port the kernel hands out for listen(0) comes from
 * that range, and so does the local port of every outgoing connection, so between this
 * check and the server's start a test running beside it could take it (a CI run failed on
 * EADDRINUSE that way). Below the range only another freePort() at random could.
 */
export async function freePort(): Promise<number> {
  const low = ephemeralPortsFrom();
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 10_000 + Math.floor(Math.random() * (low - 10_000));
    if (await canListen(port)) return port;
  }
  return listenOnce(0);
}

/** n different ports, each free as freePort() says: for servers started together. */
export async function freePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

/** The first port of the kernel's ephemeral range (32768 when it cannot be read). */
function ephemeralPortsFrom(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 11_000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

function canListen(port: number): Promise<boolean> {
  return listenOnce(port).then(
    () => true,
    () => false,
  );
}

/** Listen on 127.0.0.1:port, close again, and return the port that was bound. */
async function listenOnce(port: number): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const bound = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return bound;
}

export function tempDir(prefix = 'portcullis-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Write YAML to a fresh temp file and return its path. */
export function writeConfig(yaml: string, dir = tempDir()): string {
  const file = join(dir, 'portcullis.yaml');
  writeFileSync(file, yaml);
  return file;
}

export interface Running {
  readonly portcullis: Portcullis;
  readonly url: string; // http://127.0.0.1:PORT
  readonly port: number;
  readonly opsUrl: string;
  readonly configFile: string;
  readonly logFile: string;
  stop(): Promise<void>;
}

/**
 * Start Portcullis in this process on 127.0.0.1:0 (main and ops listeners) with the given YAML.
 * Logs go to a temp file (synchronously, so tests can read them right away).
 */
export async function startProxy(yaml: string, options: Partial<StartOptions> = {}): Promise<Running> {
  const dir = tempDir();
  const configFile = writeConfig(yaml, dir);
  const logFile = join(dir, 'portcullis.log');
  const portcullis = await startPortcullis({ configFile, logDestination: logFile, logSync: true, watch: false, ...options });
  const port = portcullis.addresses.main.port;
  return {
    portcullis,
    url: `http://127.0.0.1:${port}`,
    port,
    opsUrl: `http://127.0.0.1:${portcullis.addresses.ops.port}`,
    configFile,
    logFile,
    stop: () => portcullis.shutdown(),
  };
}

/** The minimal YAML head every test config shares: loopback listeners on free ports. */
export const baseConfig = `listen: { address: "127.0.0.1:0" }
ops: { address: "127.0.0.1:0" }
public_url: http://access.test
`;

/** Send a raw HTTP request over a fresh TCP connection and collect everything until the server closes or goes quiet. */
export async function rawRequest(port: number, text: string | Buffer, quietMs = 300): Promise<string> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(port, '127.0.0.1', () => socket.write(text));
    let timer = setTimeout(() => socket.destroy(), quietMs * 10);
    socket.on('data', (d) => {
      chunks.push(d);
      clearTimeout(timer);
      timer = setTimeout(() => socket.destroy(), quietMs);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    socket.on('error', (e) => (chunks.length ? undefined : reject(e)));
  });
}

/** What the default echo upstream answers: the request as it arrived. */
export interface Echo {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
}

/** Split a raw HTTP response into status, lower-cased headers and body. */
export function parseRawResponse(raw: string): { status: number; headers: Record<string, string>; body: string } {
  const end = raw.indexOf('\r\n\r\n');
  const head = end === -1 ? raw : raw.slice(0, end);
  const [statusLine, ...lines] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '')?.[1] ?? 0), headers, body: end === -1 ? '' : raw.slice(end + 4) };
}

/** The value of one sample of a Prometheus text exposition, or 0 when absent. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return 0;
}
