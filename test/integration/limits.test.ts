// Limits protect the proxy from clients: too many headers, too large a header block,
// and headers sent too slowly are refused before anything reaches an upstream.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { baseConfig, parseRawResponse, rawRequest, startProxy, startUpstream, type Running, type Upstream } from '../helpers/servers.ts';

let upstream: Upstream;
let proxy: Running;

beforeAll(async () => {
  upstream = await startUpstream();
  proxy = await startProxy(`${baseConfig}
limits:
  max_headers: 20
  max_header_bytes: 4096
  header_timeout: 1s
routes:
  - { name: app, from: "http://app.test", to: "${upstream.url}", public: true }
`);
});
afterAll(async () => {
  await proxy?.stop();
  await upstream?.close();
});

function headers(n: number, valueLength = 1): string {
  return Array.from({ length: n }, (_, i) => `X-H${i}: ${'v'.repeat(valueLength)}\r\n`).join('');
}

async function send(extraHeaders: string) {
  const before = upstream.received.length;
  const reply = parseRawResponse(await rawRequest(proxy.port, `GET / HTTP/1.1\r\nHost: app.test\r\nAccept: application/json\r\n${extraHeaders}Connection: close\r\n\r\n`, 100));
  return { ...reply, reachedUpstream: upstream.received.length > before };
}

describe('header limits', () => {
  it('a request with exactly max_headers headers is served', async () => {
    // Host, Accept and Connection count too.
    const r = await send(headers(17));
    expect(r.status).toBe(200);
  });

  it('a request with more headers than limits.max_headers gets 431 and never reaches the upstream', async () => {
    const r = await send(headers(18));
    expect(r.status).toBe(431);
    expect(JSON.parse(r.body).error).toBe('headers_too_large');
    expect(r.reachedUpstream).toBe(false);
  });

  it('far more headers than the limit are refused the same way', async () => {
    const r = await send(headers(500));
    expect(r.status).toBe(431);
    expect(r.reachedUpstream).toBe(false);
  });

  it('a header block larger than limits.max_header_bytes gets 431', async () => {
    const r = await send(headers(2, 3000));
    expect(r.status).toBe(431);
    expect(r.reachedUpstream).toBe(false);
  });
});

describe('slow clients', () => {
  it('a client that sends its headers slowly is cut off after limits.header_timeout', async () => {
    const socket = net.connect(proxy.port, '127.0.0.1');
    await new Promise<void>((r) => socket.once('connect', () => r()));
    let received = '';
    socket.on('data', (d) => (received += d.toString('latin1')));
    socket.on('error', () => {});
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.write('GET / HTTP/1.1\r\nHost: app.test\r\n');
    // Trickle a header line every 200 ms, never finishing the block; stop when the proxy hangs up.
    let i = 0;
    const trickle = setInterval(() => {
      if (!socket.destroyed && socket.writable) socket.write(`X-Slow-${i++}: 1\r\n`);
    }, 200);
    // Bounded: the test fails through its own timeout if the socket is never closed.
    await closed;
    clearInterval(trickle);
    expect(i).toBeGreaterThan(0);
    expect(received === '' || /^HTTP\/1\.1 408 /.test(received)).toBe(true);
    expect(upstream.received.some((r) => r.headers['x-slow-0'] !== undefined)).toBe(false);
  }, 10_000);

  it('a client that connects and sends nothing is cut off too', async () => {
    const socket = net.connect(proxy.port, '127.0.0.1');
    socket.on('error', () => {});
    // Read what comes: either closeIfSilent closes the socket, or Node's own periodic header
    // check gets there first and answers 408. Unread, a 408 would hold back the 'end' that
    // closes this side, and the test would wait for nothing.
    let received = '';
    socket.on('data', (d) => (received += d.toString('latin1')));
    const started = Date.now();
    await new Promise<void>((r) => socket.once('close', () => r()));
    expect(socket.destroyed).toBe(true);
    expect(received === '' || /^HTTP\/1\.1 408 /.test(received)).toBe(true);
    // header_timeout is 1 s: not cut off at once, and not left to idle_timeout either.
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  }, 10_000);
});
