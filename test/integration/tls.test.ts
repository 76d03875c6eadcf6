// TLS on both sides: the HTTPS listener with its HTTP->HTTPS redirect listener,
// and HTTPS upstreams verified against a configured CA.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import { parseRawResponse, rawRequest, startProxy, startUpstream, type Running, type Upstream } from '../helpers/servers.ts';
import { selfSignedCert, type TestCert } from '../helpers/tls.ts';

let listenerCert: TestCert;
let upstreamCert: TestCert;
let strangerCert: TestCert;
let plainUpstream: Upstream;
let tlsUpstream: https.Server;
let strangerUpstream: https.Server;
let proxy: Running;
let trustListener: Agent;

async function httpsUpstream(cert: TestCert, name: string): Promise<https.Server> {
  const server = https.createServer({ cert: cert.cert, key: cert.key }, (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ served_by: name, url: req.url, host: req.headers.host }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return server;
}
const portOf = (s: net.Server) => (s.address() as AddressInfo).port;

beforeAll(async () => {
  listenerCert = selfSignedCert('app.test');
  upstreamCert = selfSignedCert('backend.internal');
  strangerCert = selfSignedCert('stranger.internal');
  plainUpstream = await startUpstream();
  tlsUpstream = await httpsUpstream(upstreamCert, 'tls-backend');
  strangerUpstream = await httpsUpstream(strangerCert, 'stranger');
  proxy = await startProxy(`listen:
  address: "127.0.0.1:0"
  tls: { cert: "${listenerCert.certFile}", key: "${listenerCert.keyFile}" }
  redirect_http: "127.0.0.1:0"
ops: { address: "127.0.0.1:0" }
public_url: https://access.app.test
limits: { header_timeout: 1s }
routes:
  - { name: app, from: "https://app.test", to: "${plainUpstream.url}", public: true }
  - name: tls-backend
    from: https://secure.app.test
    to: https://127.0.0.1:${portOf(tlsUpstream)}
    public: true
    upstream_tls: { ca: "${upstreamCert.certFile}", server_name: backend.internal }
  - name: wrong-ca
    from: https://wrong-ca.app.test
    to: https://127.0.0.1:${portOf(strangerUpstream)}
    public: true
    upstream_tls: { ca: "${upstreamCert.certFile}", server_name: stranger.internal }
  - name: system-ca
    from: https://system-ca.app.test
    to: https://127.0.0.1:${portOf(strangerUpstream)}
    public: true
`);
  trustListener = new Agent({ connect: { ca: listenerCert.cert, servername: 'app.test' } });
});
afterAll(async () => {
  await proxy?.stop();
  await trustListener?.close();
  await plainUpstream?.close();
  for (const s of [tlsUpstream, strangerUpstream]) {
    s?.closeAllConnections();
    await new Promise<void>((r) => (s ? s.close(() => r()) : r()));
  }
});

const httpsUrl = (path: string) => `https://127.0.0.1:${proxy.port}${path}`;

async function viaHttps(host: string, path = '/') {
  const res = await request(httpsUrl(path), { dispatcher: trustListener, headers: { host, accept: 'application/json' } });
  return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> & { headers?: Record<string, string> } };
}

describe('the HTTPS listener', () => {
  it('serves a route over TLS and tells the upstream the client used https', async () => {
    const r = await viaHttps('app.test', '/hello');
    expect(r.status).toBe(200);
    expect(r.body.url).toBe('/hello');
    expect(r.body.headers!['x-forwarded-proto']).toBe('https');
  });

  it('a client that connects and never completes the TLS handshake is cut off after limits.header_timeout', async () => {
    const socket = net.connect(proxy.port, '127.0.0.1');
    socket.on('error', () => {});
    await new Promise<void>((r) => socket.once('close', () => r()));
    expect(socket.destroyed).toBe(true);
  }, 10_000);

  it('a client that completes the handshake and sends nothing is cut off after limits.header_timeout', async () => {
    const socket = tls.connect({ port: proxy.port, host: '127.0.0.1', servername: 'app.test', ca: listenerCert.cert });
    socket.on('error', () => {});
    await new Promise<void>((r) => socket.once('secureConnect', () => r()));
    await new Promise<void>((r) => socket.once('close', () => r()));
    expect(socket.destroyed).toBe(true);
  }, 10_000);

  it('does not speak plain HTTP on the TLS port', async () => {
    const raw = await rawRequest(proxy.port, 'GET / HTTP/1.1\r\nHost: app.test\r\n\r\n', 200);
    expect(raw).not.toMatch(/^HTTP\/1\.1 200/);
  });
});

describe('the HTTP -> HTTPS redirect listener', () => {
  const redirectPort = () => proxy.portcullis.addresses.redirect!.port;

  it('answers 308 to the same host, path and query on https for a host Portcullis serves', async () => {
    const reply = parseRawResponse(await rawRequest(redirectPort(), 'GET /a/b?c=d HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n', 100));
    expect(reply.status).toBe(308);
    expect(reply.headers.location).toBe(`https://app.test:${proxy.port}/a/b?c=d`);
  });

  it('redirects with the normalized path, never a path it would refuse', async () => {
    const reply = parseRawResponse(await rawRequest(redirectPort(), 'GET //a/./b HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n', 100));
    expect(reply.status).toBe(308);
    expect(reply.headers.location).toBe(`https://app.test:${proxy.port}/a/b`);
    const bad = parseRawResponse(await rawRequest(redirectPort(), 'GET /a/%2e%2e/%2e%2e/x HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n', 100));
    expect(bad.status).toBe(400);
  });

  it('cuts off a client that connects and sends nothing after limits.header_timeout', async () => {
    const socket = net.connect(redirectPort(), '127.0.0.1');
    socket.on('error', () => {});
    await new Promise<void>((r) => socket.once('close', () => r()));
    expect(socket.destroyed).toBe(true);
  }, 10_000);

  it('answers 404 for a host Portcullis does not serve, so it is no open redirect', async () => {
    const reply = parseRawResponse(await rawRequest(redirectPort(), 'GET / HTTP/1.1\r\nHost: evil.test\r\nConnection: close\r\n\r\n', 100));
    expect(reply.status).toBe(404);
    expect(reply.headers.location).toBeUndefined();
  });
});

describe('HTTPS upstreams', () => {
  it('an upstream whose certificate is signed by the configured CA is served', async () => {
    const r = await viaHttps('secure.app.test', '/x');
    expect(r.status).toBe(200);
    expect(r.body.served_by).toBe('tls-backend');
    expect(r.body.url).toBe('/x');
  });

  it('an upstream whose certificate the configured CA did not sign is refused with 502', async () => {
    const r = await viaHttps('wrong-ca.app.test');
    expect(r.status).toBe(502);
    expect(r.body.error).toBe('upstream_unreachable');
  });

  it('an upstream with a self-signed certificate and no upstream_tls is refused with 502', async () => {
    const r = await viaHttps('system-ca.app.test');
    expect(r.status).toBe(502);
  });
});
