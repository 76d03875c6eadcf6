// Slow and oversized requests: many slowloris connections are all cut after
// limits.header_timeout while the proxy keeps serving; floods of headers get 431.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { raw } from './harness.ts';
import { baseConfig, startProxy, startUpstream, type Running, type Upstream } from '../helpers/servers.ts';

let upstream: Upstream;
let proxy: Running;
beforeAll(async () => {
  upstream = await startUpstream();
  proxy = await startProxy(`${baseConfig}limits: { header_timeout: 1s, max_headers: 100, max_header_bytes: 16384 }
routes:
  - { name: app, from: http://app.test, to: ${upstream.url}, public: true }
`);
});
afterAll(async () => {
  await proxy?.stop();
  await upstream?.close();
});

describe('slowloris', () => {
  it('60 connections dribbling header bytes are all closed by the server, and a normal request is served meanwhile', async () => {
    const sockets: net.Socket[] = [];
    const closed: boolean[] = [];
    for (let i = 0; i < 60; i++) {
      const s = net.connect(proxy.port, '127.0.0.1');
      s.on('error', () => {});
      s.resume(); // read, or the server's 408 and FIN are never seen and 'close' never comes
      const index = closed.push(false) - 1;
      s.on('close', () => (closed[index] = true));
      s.write('GET / HTTP/1.1\r\nHost: app.test\r\n');
      sockets.push(s);
    }
    const drip = setInterval(() => {
      for (const s of sockets) if (!s.destroyed) s.write('X-A: b\r\n');
    }, 200);
    try {
      const normal = await raw({ port: proxy.port, upstream }, 'GET /ok HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n');
      expect(normal.status).toBe(200);
      // header_timeout is 1 s; allow generous slack on a busy machine before calling it a failure
      for (let i = 0; i < 100 && closed.includes(false); i++) await sleep(100);
      expect(closed.filter((c) => !c).length).toBe(0);
    } finally {
      clearInterval(drip);
      for (const s of sockets) s.destroy();
    }
    expect(upstream.received.filter((r) => r.url === '/').length).toBe(0);
    expect((await fetch(`${proxy.opsUrl}/healthz`)).status).toBe(200);
  });
});

describe('header floods', () => {
  it('1000 header lines get 431 and forward nothing', async () => {
    const lines = Array.from({ length: 1000 }, (_, i) => `X-F${i}: v`).join('\r\n');
    const r = await raw({ port: proxy.port, upstream }, `GET /flood HTTP/1.1\r\nHost: app.test\r\n${lines}\r\nConnection: close\r\n\r\n`);
    expect(r.status).toBe(431);
    expect(r.upstream).toHaveLength(0);
  });

  it('1000 copies of one identity header get 431 too, so none can slip past the limit', async () => {
    const lines = Array.from({ length: 1000 }, () => 'X-Forwarded-User: mallory').join('\r\n');
    const r = await raw({ port: proxy.port, upstream }, `GET /flood HTTP/1.1\r\nHost: app.test\r\n${lines}\r\nConnection: close\r\n\r\n`);
    expect(r.status).toBe(431);
    expect(r.upstream).toHaveLength(0);
  });

  it('one 64 KiB header value gets 431', async () => {
    const r = await raw({ port: proxy.port, upstream }, `GET /big HTTP/1.1\r\nHost: app.test\r\nX-Big: ${'a'.repeat(65536)}\r\nConnection: close\r\n\r\n`);
    expect(r.status).toBe(431);
    expect(r.upstream).toHaveLength(0);
  });

  it('a 64 KiB request line is refused and forwards nothing', async () => {
    const r = await raw({ port: proxy.port, upstream }, `GET /${'a'.repeat(65536)} HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n`);
    expect([400, 414, 431]).toContain(r.status);
    expect(r.upstream).toHaveLength(0);
  });

  it('the proxy still answers after the floods', async () => {
    expect((await fetch(`${proxy.opsUrl}/healthz`)).status).toBe(200);
    const r = await raw({ port: proxy.port, upstream }, 'GET /after HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n');
    expect(r.status).toBe(200);
  });
});
