// What the upstream hears: no hop-by-hop headers, no client-made identity or forwarding
// headers in any spelling, and Portcullis's own X-Forwarded-* values.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { baseConfig, parseRawResponse, rawRequest, startProxy, startUpstream, type Echo, type Running, type Upstream } from '../helpers/servers.ts';

let upstream: Upstream;
let proxy: Running;
let trustingProxy: Running;

beforeAll(async () => {
  upstream = await startUpstream((req, res) => {
    if (req.url === '/hop-by-hop-response') {
      // Write the head by hand: Node would refuse or rewrite some of these.
      res.socket!.end(
        'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: X-Internal-Token, close\r\nKeep-Alive: timeout=5\r\n' +
          'X-Internal-Token: secret\r\nTrailer: X-Sum\r\nUpgrade: h2c\r\nProxy-Authenticate: Basic\r\nX-App: kept\r\n\r\nok',
      );
      return;
    }
    const body = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, rawHeaders: req.rawHeaders });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  const routes = `routes:
  - name: app
    from: http://app.test
    to: ${upstream.url}
    public: true
`;
  proxy = await startProxy(baseConfig + routes);
  trustingProxy = await startProxy(`${baseConfig}trusted_proxies: [127.0.0.1]\n${routes}`);
});
afterAll(async () => {
  await proxy?.stop();
  await trustingProxy?.stop();
  await upstream?.close();
});

interface RawEcho extends Echo {
  rawHeaders: string[];
}

/** Send a GET over a raw socket with exactly these header lines; return what the upstream saw. */
async function rawEcho(port: number, headerLines: string[]): Promise<RawEcho> {
  const before = upstream.received.length;
  const reply = parseRawResponse(await rawRequest(port, `GET /echo HTTP/1.1\r\nHost: app.test\r\n${headerLines.map((l) => l + '\r\n').join('')}Connection: close\r\n\r\n`, 100));
  expect(reply.status).toBe(200);
  expect(upstream.received.length).toBe(before + 1);
  return JSON.parse(reply.body) as RawEcho;
}

const canonicalNames = (e: RawEcho) => e.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase().replaceAll('_', '-'));

describe('hop-by-hop headers stay on their hop', () => {
  it('Connection, Keep-Alive, TE, Trailer, Upgrade, Proxy-Authorization and headers named in Connection never reach the upstream', async () => {
    const seen = await rawEcho(proxy.port, [
      'Keep-Alive: timeout=100',
      'TE: trailers',
      'Trailer: X-Checksum',
      'Upgrade: h2c',
      'Proxy-Authorization: Basic dXNlcjpwYXNz',
      'Proxy-Connection: keep-alive',
      'Connection: X-Hop-Secret, x_other_hop',
      'X-Hop-Secret: 1',
      'X-Other-Hop: 2',
      'X-End-To-End: 3',
    ]);
    const names = canonicalNames(seen);
    for (const hop of ['keep-alive', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-connection', 'x-hop-secret', 'x-other-hop']) {
      expect(names).not.toContain(hop);
    }
    // Whatever connection header the upstream sees is the pool's own, never the client's tokens.
    expect(String(seen.headers.connection ?? '')).not.toMatch(/x-hop-secret|x_other_hop/i);
    expect(seen.headers['x-end-to-end']).toBe('3');
  });

  it('hop-by-hop headers in the upstream\'s response never reach the client', async () => {
    const reply = parseRawResponse(await rawRequest(proxy.port, 'GET /hop-by-hop-response HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n', 100));
    expect(reply.status).toBe(200);
    expect(reply.body).toBe('ok');
    expect(reply.headers['x-app']).toBe('kept');
    for (const hop of ['x-internal-token', 'keep-alive', 'trailer', 'upgrade', 'proxy-authenticate']) expect(reply.headers[hop]).toBeUndefined();
    // The client's own connection handling is Node's, not the upstream's list of names.
    expect(reply.headers.connection ?? '').not.toMatch(/x-internal-token/i);
  });
});

describe('spoofed identity headers are stripped in every spelling', () => {
  it('X-Forwarded-User, its variants, duplicates and Portcullis\'s own header names never reach the upstream', async () => {
    const seen = await rawEcho(proxy.port, [
      'X-Forwarded-User: mallory',
      'x-forwarded-user: mallory2',
      'X_Forwarded_User: mallory3',
      'x_forwarded_user: mallory4',
      'X-FORWARDED-EMAIL: mallory@evil.test',
      'X-Forwarded-Groups: admins',
      'X-Forwarded-Groups: root',
      'X-Portcullis-Jwt-Assertion: eyJhbGciOiJub25lIn0.e30.',
      'X_PORTCULLIS_JWT_ASSERTION: forged',
      'X-Forwarded-Preferred-Username: mallory',
      'X-Auth-Request-User: mallory',
      'Remote-User: mallory',
      'X-Remote-User: mallory',
      'X-Kept: yes',
    ]);
    const names = canonicalNames(seen);
    for (const n of names) {
      expect(n).not.toMatch(/^x-portcullis-|^x-auth-request-|^(x-)?remote-user$/);
    }
    expect(names.filter((n) => n.startsWith('x-forwarded-')).sort()).toEqual(['x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto']);
    expect(JSON.stringify(seen.rawHeaders)).not.toContain('mallory');
    expect(seen.headers['x-kept']).toBe('yes');
  });

  it('from an untrusted peer, the upstream sees Portcullis\'s own X-Forwarded-* values, not the client\'s', async () => {
    const seen = await rawEcho(proxy.port, [
      'X-Forwarded-For: 10.6.6.6',
      'x-forwarded-for: 10.7.7.7',
      'X-Forwarded-Proto: https',
      'X-Forwarded-Host: bank.test',
      'X-Forwarded-Port: 443',
      'Forwarded: for=10.6.6.6;proto=https;host=bank.test',
      'X-Real-IP: 10.6.6.6',
      'X-Original-URL: /admin',
      'X-Rewrite-URL: /admin',
      'X-Request-Id: chosen-by-client',
    ]);
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(seen.headers['x-forwarded-host']).toBe('app.test');
    expect(seen.headers['x-forwarded-port']).toBeUndefined();
    expect(seen.headers.forwarded).toBeUndefined();
    expect(seen.headers['x-real-ip']).toBeUndefined();
    expect(seen.headers['x-original-url']).toBeUndefined();
    expect(seen.headers['x-rewrite-url']).toBeUndefined();
    expect(seen.headers['x-request-id']).not.toBe('chosen-by-client');
    // Each X-Forwarded-* header arrives exactly once.
    const names = canonicalNames(seen);
    for (const h of ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-request-id']) expect(names.filter((n) => n === h)).toHaveLength(1);
  });

  it('behind a trusted proxy, the client\'s X-Forwarded-For is extended, not replaced', async () => {
    const seen = await rawEcho(trustingProxy.port, ['X-Forwarded-For: 203.0.113.9', 'X-Forwarded-Proto: https', 'X-Forwarded-Host: app.example.com', 'X-Request-Id: lb-1234']);
    expect(seen.headers['x-forwarded-for']).toBe('203.0.113.9, 127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('https');
    expect(seen.headers['x-forwarded-host']).toBe('app.example.com');
    expect(seen.headers['x-request-id']).toBe('lb-1234');
  });

  it('behind a trusted proxy, several X-Forwarded-For headers are joined in order before ours is appended', async () => {
    const seen = await rawEcho(trustingProxy.port, ['X-Forwarded-For: 198.51.100.1', 'X-Forwarded-For: 203.0.113.9']);
    expect(seen.headers['x-forwarded-for']).toBe('198.51.100.1, 203.0.113.9, 127.0.0.1');
  });

  it('fetch-style requests get the same treatment', async () => {
    const res = await request(`${proxy.url}/`, { headers: { host: 'app.test', 'x-forwarded-user': 'mallory', 'x-forwarded-email': 'm@evil.test' } });
    const seen = (await res.body.json()) as Echo;
    expect(seen.headers['x-forwarded-user']).toBeUndefined();
    expect(seen.headers['x-forwarded-email']).toBeUndefined();
  });
});
