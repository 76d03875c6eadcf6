// When the upstream fails, the client gets a clear 502/504 (a page for people, JSON for
// programs) carrying the request id, and the process keeps serving.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { baseConfig, freePort, rawRequest, parseRawResponse, startProxy, startUpstream, tempDir, type Running, type Upstream } from '../helpers/servers.ts';

let slow: Upstream;
let healthy: Upstream;
let thinker: Upstream;
let thinkerCancelled = 0;
let resetter: net.Server;
let closedPort: number;
let proxy: Running;
let uploadsAborted = 0;

beforeAll(async () => {
  closedPort = await freePort();
  slow = await startUpstream((_req, res) => {
    const t = setTimeout(() => res.end('too late'), 2000);
    res.on('close', () => clearTimeout(t));
  });
  // Answers after 10 s, unless the request is cancelled first; counts the cancellations.
  thinker = await startUpstream((_req, res) => {
    const t = setTimeout(() => res.end('thought it over'), 10_000);
    res.on('close', () => {
      clearTimeout(t);
      if (!res.writableEnded) thinkerCancelled++;
    });
  });
  healthy = await startUpstream((req, res) => {
    if (req.url === '/upload') {
      // Reads the body and answers at its end; records whether the request was cut off.
      req.on('data', () => {});
      req.on('aborted', () => uploadsAborted++);
      req.on('end', () => res.end('got it'));
      return;
    }
    res.end('ok');
  });
  // Sends a head promising 1 MB, some bytes, then resets the connection.
  resetter = net.createServer((socket) => {
    socket.once('data', () => {
      socket.write('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 1000000\r\n\r\n');
      socket.write('x'.repeat(1000), () => setTimeout(() => socket.resetAndDestroy(), 20));
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((r) => resetter.listen(0, '127.0.0.1', r));
  proxy = await startProxy(`${baseConfig}
routes:
  - { name: down, from: "http://down.test", to: "http://127.0.0.1:${closedPort}", public: true }
  - { name: slow, from: "http://slow.test", to: "${slow.url}", timeout: 300ms, public: true }
  - { name: reset, from: "http://reset.test", to: "http://127.0.0.1:${(resetter.address() as AddressInfo).port}", public: true }
  - { name: ok, from: "http://ok.test", to: "${healthy.url}", public: true }
  - { name: thinking, from: "http://thinking.test", to: "${thinker.url}", public: true }
`);
});
afterAll(async () => {
  await proxy?.stop();
  await slow?.close();
  await healthy?.close();
  await thinker?.close();
  await new Promise<void>((r) => resetter.close(() => r()));
});

async function get(host: string, accept: string) {
  const res = await request(`${proxy.url}/x`, { headers: { host, accept } });
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
}

describe('an upstream that refuses connections', () => {
  it('answers 502 as JSON with the request id in the header and the body', async () => {
    const r = await get('down.test', 'application/json');
    expect(r.status).toBe(502);
    expect(r.headers['content-type']).toBe('application/json');
    const body = JSON.parse(r.body) as { error: string; request_id: string; status: number };
    expect(body.error).toBe('upstream_unreachable');
    expect(body.status).toBe(502);
    expect(body.request_id).toBe(r.headers['x-request-id']);
  });

  it('answers 502 as an HTML page for a browser, showing the request id', async () => {
    const r = await get('down.test', 'text/html,application/xhtml+xml,*/*;q=0.8');
    expect(r.status).toBe(502);
    expect(String(r.headers['content-type'])).toMatch(/^text\/html/);
    const id = String(r.headers['x-request-id']);
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.body).toContain(id);
    expect(r.body).toContain('upstream_unreachable');
  });
});

describe('an upstream slower than the route timeout', () => {
  it('answers 504 as JSON with the request id', async () => {
    const r = await get('slow.test', 'application/json');
    expect(r.status).toBe(504);
    const body = JSON.parse(r.body) as { error: string; request_id: string };
    expect(body.error).toBe('upstream_timeout');
    expect(body.request_id).toBe(r.headers['x-request-id']);
  });

  it('answers 504 as an HTML page for a browser', async () => {
    const r = await get('slow.test', 'text/html');
    expect(r.status).toBe(504);
    expect(String(r.headers['content-type'])).toMatch(/^text\/html/);
    expect(r.body).toContain(String(r.headers['x-request-id']));
  });
});

describe('an upstream that resets in the middle of the body', () => {
  it('cuts the client\'s response short and keeps serving other requests', async () => {
    const raw = await rawRequest(proxy.port, 'GET /cut HTTP/1.1\r\nHost: reset.test\r\n\r\n', 300);
    const reply = parseRawResponse(raw);
    // The head was already sent when the upstream died: the client sees a 200 that is shorter than promised.
    expect(reply.status).toBe(200);
    expect(reply.body.length).toBeLessThan(1_000_000);
    // Portcullis cut the connection, not the client: the log blames the upstream.
    const { access, upstreamBlamed } = await linesAbout('/cut');
    expect(access).toMatchObject({ status: 200, error: 'upstream_bad_response' });
    expect(upstreamBlamed).toBe(true);

    // An undici client reading the body notices the truncation as an error.
    const res = await request(`${proxy.url}/x`, { headers: { host: 'reset.test' } });
    await expect(res.body.text()).rejects.toThrow();

    const ok = await get('ok.test', 'application/json');
    expect(ok.status).toBe(200);
  });
});

/**
 * Send a raw request, wait until the upstream has it, close the connection, then wait (within
 * 5 s in all) until `done` says the upstream noticed.
 */
async function sendThenVanish(raw: string, upstream: Upstream, path: string, done: () => boolean): Promise<void> {
  const socket = net.connect(proxy.port, '127.0.0.1');
  socket.on('error', () => {});
  await new Promise<void>((r) => socket.once('connect', () => r()));
  socket.write(raw);
  const deadline = Date.now() + 5000;
  while (!upstream.received.some((r) => r.url === path) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  socket.destroy();
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

/**
 * The access line of the request to `path`, and whether any line of that request blamed the
 * upstream. The access line is written as the client leaves, so it may take a moment.
 */
async function linesAbout(path: string): Promise<{ access: Record<string, unknown>; upstreamBlamed: boolean }> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const lines = readFileSync(proxy.logFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    const access = lines.find((l) => l.type === 'access' && l.path === path);
    if (access) return { access, upstreamBlamed: lines.some((l) => l.request_id === access.request_id && (l.type === 'upstream_error' || String(l.error).startsWith('upstream_'))) };
    if (Date.now() > deadline) throw new Error(`no access line for ${path}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('a client that goes away mid-upload', () => {
  it('cancels the upstream request and keeps serving', async () => {
    await sendThenVanish('POST /upload HTTP/1.1\r\nHost: ok.test\r\nContent-Length: 1000000\r\n\r\n' + 'x'.repeat(10_000), healthy, '/upload', () => uploadsAborted > 0);
    expect(uploadsAborted).toBe(1);
    expect((await get('ok.test', 'application/json')).status).toBe(200);
  });

  it('is logged as the client leaving (499), not as an upstream failure', async () => {
    const { access, upstreamBlamed } = await linesAbout('/upload');
    expect(access).toMatchObject({ status: 499, error: 'client_closed', reason: 'the client left before the response began' });
    expect(upstreamBlamed).toBe(false);
  });
});

/**
 * An upstream that is slow to accept connections: a child process listening with a backlog
 * of one that accepts nothing until accept() is called, so that once its queue is full the
 * kernel drops the next SYN and that connect waits for its retransmission (about a second
 * later). From accept() on it takes every connection for `collectMs` and reports what each sent.
 */
function slowToAccept(collectMs: number): { port: Promise<number>; accept: () => void; received: Promise<string[]> } {
  const go = join(tempDir('slow-accept-'), 'go');
  const script = `
    const net = require('node:net');
    const { existsSync } = require('node:fs');
    const received = [];
    const server = net.createServer((socket) => {
      const i = received.push('') - 1;
      socket.on('data', (d) => (received[i] += d.toString('latin1')));
      socket.on('error', () => {});
    });
    server.listen({ host: '127.0.0.1', port: 0, backlog: 1 }, () => {
      process.stdout.write(JSON.stringify({ port: server.address().port }) + '\\n');
      // The event loop, and so accept(), waits here (at most 10 s).
      const pause = new Int32Array(new SharedArrayBuffer(4));
      for (let i = 0; i < 1000 && !existsSync(${JSON.stringify(go)}); i++) Atomics.wait(pause, 0, 0, 10);
      setTimeout(() => {
        process.stdout.write(JSON.stringify({ received }) + '\\n');
        process.exit(0);
      }, ${collectMs});
    });`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: unknown[] = [];
  let waiting: (() => void)[] = [];
  let buffered = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buffered += d;
    for (let i = buffered.indexOf('\n'); i !== -1; i = buffered.indexOf('\n')) {
      lines.push(JSON.parse(buffered.slice(0, i)));
      buffered = buffered.slice(i + 1);
      waiting.forEach((w) => w());
      waiting = [];
    }
  });
  const line = async (n: number) => {
    while (lines.length <= n) await new Promise<void>((r) => waiting.push(r));
    return lines[n]!;
  };
  return {
    port: line(0).then((l) => (l as { port: number }).port),
    accept: () => writeFileSync(go, ''),
    received: line(1).then((l) => (l as { received: string[] }).received),
  };
}

describe('a client that goes away while Portcullis is still connecting to the upstream', () => {
  it('never sends the request once the connection is made', async () => {
    const upstream = slowToAccept(3500);
    const upstreamPort = await upstream.port;
    const early = await startProxy(`${baseConfig}
routes:
  - { name: slow-accept, from: "http://queued.test", to: "http://127.0.0.1:${upstreamPort}", public: true }
`);
    try {
      // Fill the upstream's queue: connect until a connection is left waiting, then drop that one.
      const fillers: net.Socket[] = [];
      for (let connected = true; connected && fillers.length < 10; ) {
        const filler = net.connect(upstreamPort, '127.0.0.1');
        filler.on('error', () => {});
        fillers.push(filler);
        connected = await Promise.race([new Promise<boolean>((r) => filler.once('connect', () => r(true))), new Promise<boolean>((r) => setTimeout(() => r(false), 150))]);
      }
      fillers.pop()!.destroy();
      expect(fillers.length).toBeGreaterThan(0);
      const client = net.connect(early.port, '127.0.0.1');
      client.on('error', () => {});
      await new Promise<void>((r) => client.once('connect', () => r()));
      client.write('GET /left-early HTTP/1.1\r\nHost: queued.test\r\n\r\n');
      await new Promise((r) => setTimeout(r, 250));
      client.destroy(); // while Portcullis's connection to the upstream still waits for its SYN to be answered
      await new Promise((r) => setTimeout(r, 100));
      upstream.accept();
      const received = await upstream.received;
      fillers.forEach((f) => f.destroy());
      // Portcullis's connection was made after the fillers', but the request never went out on it.
      expect(received.length).toBeGreaterThan(fillers.length);
      expect(received.join('')).not.toContain('/left-early');
      const lines = readFileSync(early.logFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.find((l) => l.type === 'access' && l.path === '/left-early')).toMatchObject({ status: 499, error: 'client_closed' });
    } finally {
      await early.stop();
    }
  }, 15_000);
});

describe('a client that goes away while the upstream is still working on its request', () => {
  it('cancels the upstream request at once, not when the upstream answers', async () => {
    // The upstream would answer after 10 s; the cancellation must reach it well before.
    await sendThenVanish('GET /think HTTP/1.1\r\nHost: thinking.test\r\n\r\n', thinker, '/think', () => thinkerCancelled > 0);
    expect(thinkerCancelled).toBe(1);
    expect((await get('ok.test', 'application/json')).status).toBe(200);
    // Stopping the upstream request is the client's doing: no line blames the upstream.
    const { access, upstreamBlamed } = await linesAbout('/think');
    expect(access).toMatchObject({ status: 499, error: 'client_closed', reason: 'the client left before the response began' });
    expect(upstreamBlamed).toBe(false);
  });
});
