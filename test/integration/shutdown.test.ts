// Graceful shutdown: requests already in flight finish, new connections are refused,
// and shutdown() returns once the work is done.
import { describe, expect, it } from 'vitest';
import net from 'node:net';
import { request } from 'undici';
import { baseConfig, startProxy, startUpstream } from '../helpers/servers.ts';

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

describe('graceful shutdown', () => {
  it('a slow request in flight completes after shutdown() is called, and new connections are refused', async () => {
    let arrived!: () => void;
    const requestArrived = new Promise<void>((r) => (arrived = r));
    const upstream = await startUpstream((_req, res) => {
      arrived();
      setTimeout(() => res.end('finished after a second'), 1000);
    });
    const proxy = await startProxy(`${baseConfig}
limits: { shutdown_timeout: 10s }
routes:
  - { name: slow, from: "http://slow.test", to: "${upstream.url}", public: true }
`);
    try {
      const inFlight = request(`${proxy.url}/`, { headers: { host: 'slow.test' } }).then(async (res) => ({ status: res.statusCode, body: await res.body.text(), connection: res.headers.connection }));
      await requestArrived;

      let shutdownReturned = false;
      const shutdown = proxy.portcullis.shutdown().then(() => (shutdownReturned = true));
      // The listener is closed at once: nobody new gets in while we drain.
      expect(await connects(proxy.port)).toBe(false);
      expect(shutdownReturned).toBe(false);
      const ready = await request(`${proxy.opsUrl}/readyz`).then(async (r) => (await r.body.dump(), r.statusCode)).catch(() => 'closed');
      expect([503, 'closed']).toContain(ready);

      const done = await inFlight;
      expect(done.status).toBe(200);
      expect(done.body).toBe('finished after a second');
      await shutdown;
      expect(shutdownReturned).toBe(true);
      expect(await connects(proxy.portcullis.addresses.ops.port)).toBe(false);
    } finally {
      await proxy.stop();
      await upstream.close();
    }
  });

  it('a request that arrives on a busy connection during shutdown is answered, whole, and told the connection closes', async () => {
    let arrived!: () => void;
    const requestArrived = new Promise<void>((r) => (arrived = r));
    const upstream = await startUpstream((req, res) => {
      if (req.url === '/slow') {
        arrived();
        setTimeout(() => res.end('slow'), 500);
        return;
      }
      // An upstream with its own request id and a cookie pair: neither is lost or doubled on the way out.
      res.writeHead(200, { 'content-type': 'text/plain', 'x-request-id': 'upstream-id', 'set-cookie': ['a=1', 'b=2'] });
      res.end('second');
    });
    const proxy = await startProxy(`${baseConfig}
limits: { shutdown_timeout: 10s }
routes:
  - { name: app, from: "http://app.test", to: "${upstream.url}", public: true }
`);
    try {
      const socket = net.connect(proxy.port, '127.0.0.1');
      socket.on('error', () => {});
      let received = '';
      socket.on('data', (d) => (received += d.toString('latin1')));
      const closed = new Promise<void>((r) => socket.once('close', () => r()));
      socket.write('GET /slow HTTP/1.1\r\nHost: app.test\r\n\r\n');
      await requestArrived;
      const shutdown = proxy.portcullis.shutdown();
      socket.write('GET /second HTTP/1.1\r\nHost: app.test\r\n\r\n');
      await shutdown;
      await closed;
      const second = received.slice(received.indexOf('HTTP/1.1', 1));
      expect(received).toMatch(/^HTTP\/1\.1 200 [\s\S]*\r\n\r\nslowHTTP\/1\.1 200 /);
      expect(second).toMatch(/\r\nconnection: close\r\n/i);
      expect(second.match(/^x-request-id: .*$/gim)).toHaveLength(1);
      expect(second).not.toContain('upstream-id');
      expect(second.match(/^set-cookie: .*$/gim)).toEqual(['set-cookie: a=1', 'set-cookie: b=2']);
      expect(second).toMatch(/\r\n\r\n(second|6\r\nsecond\r\n0\r\n\r\n)$/);
    } finally {
      await upstream.close();
    }
  }, 10_000);

  it('shutdown closes idle keep-alive connections instead of waiting for them', async () => {
    const upstream = await startUpstream();
    // A deadline longer than the test's own timeout: waiting for it would fail the test.
    const proxy = await startProxy(`${baseConfig}
limits: { shutdown_timeout: 1h, keep_alive_timeout: 1h, idle_timeout: 1h }
routes:
  - { name: app, from: "http://app.test", to: "${upstream.url}", public: true }
`);
    try {
      const socket = net.connect(proxy.port, '127.0.0.1');
      socket.on('error', () => {});
      const closed = new Promise<void>((r) => socket.once('close', () => r()));
      const answered = new Promise<string>((r) => socket.once('data', (d) => r(d.toString('latin1'))));
      socket.write('GET / HTTP/1.1\r\nHost: app.test\r\n\r\n');
      expect(await answered).toMatch(/^HTTP\/1\.1 200 /);
      await proxy.portcullis.shutdown();
      await closed;
      expect(socket.destroyed).toBe(true);
    } finally {
      await upstream.close();
    }
  }, 10_000);

  it('a second call to shutdown() returns the same promise', async () => {
    const upstream = await startUpstream();
    const proxy = await startProxy(`${baseConfig}routes:\n  - { name: app, from: "http://app.test", to: "${upstream.url}", public: true }\n`);
    const first = proxy.portcullis.shutdown();
    expect(proxy.portcullis.shutdown()).toBe(first);
    await first;
    await upstream.close();
  });
});
