// WebSockets pass through routes that allow them, end to end, with the same
// admission and header stripping as plain requests.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { baseConfig, rawRequest, startProxy, type Running } from '../helpers/servers.ts';
import { acceptKey, decodeFrame, nextMessages, opened, startWebSocketUpstream, type WebSocketUpstream } from '../helpers/websocket.ts';

let upstream: WebSocketUpstream;
let proxy: Running;

beforeAll(async () => {
  upstream = await startWebSocketUpstream();
  // Node's WebSocket client cannot choose the Host header, so the routes the client
  // uses are named by the address it connects to.
  proxy = await startProxy(`${baseConfig}
routes:
  - name: live
    from: http://127.0.0.1/live
    to: ${upstream.url}
    websockets: true
    public: true
  - name: plain
    from: http://127.0.0.1
    to: ${upstream.url}
    public: true
  - name: chat
    from: http://chat.test
    to: ${upstream.url}/base
    websockets: true
    public: true
`);
});
afterAll(async () => {
  await proxy?.stop();
  await upstream?.close();
});

function wsUrl(path: string): string {
  return `ws://127.0.0.1:${proxy.port}${path}`;
}

/** A handshake request as a browser would send it, plus any extra header lines. */
function handshake(path: string, host: string, extra = ''): { text: string; key: string } {
  const key = randomBytes(16).toString('base64');
  return {
    key,
    text: `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`,
  };
}

describe('WebSockets through a route with websockets: true', () => {
  it('carries text and binary messages both ways', async () => {
    const ws = new WebSocket(wsUrl('/live/feed?x=1'));
    ws.binaryType = 'arraybuffer';
    const greeting = nextMessages(ws, 1);
    await opened(ws);
    expect(await greeting).toEqual(['hello /live/feed?x=1']);

    const replies = nextMessages(ws, 3);
    ws.send('one');
    ws.send(new Uint8Array([0, 1, 2, 255]));
    ws.send('x'.repeat(70_000)); // a 64-bit length frame
    const [text, binary, big] = await replies;
    expect(text).toBe('echo:one');
    expect([...new Uint8Array(binary as ArrayBuffer)]).toEqual([0, 1, 2, 255]);
    expect(big).toBe(`echo:${'x'.repeat(70_000)}`);
    ws.close(1000);
    await new Promise((r) => ws.addEventListener('close', r, { once: true }));
  });

  it('sends the upstream the checked path under the route base path, with Portcullis\'s forwarding headers', async () => {
    const { text, key } = handshake('/room/./1//x', 'chat.test');
    const before = upstream.upgrades.length;
    const reply = await rawRequest(proxy.port, text, 200);
    expect(reply).toMatch(/^HTTP\/1\.1 101 /);
    expect(reply.toLowerCase()).toContain(`sec-websocket-accept: ${acceptKey(key).toLowerCase()}`);
    const frame = decodeFrame(Buffer.from(reply.slice(reply.indexOf('\r\n\r\n') + 4), 'latin1'));
    expect(frame?.payload.toString()).toBe('hello /base/room/1/x');
    const seen = upstream.upgrades[before]!;
    expect(seen.url).toBe('/base/room/1/x');
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers['x-forwarded-host']).toBe('chat.test');
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(seen.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('strips client-sent identity headers from the upgrade request in every spelling', async () => {
    const { text } = handshake(
      '/',
      'chat.test',
      'X-Forwarded-User: mallory\r\nx_forwarded_email: mallory@evil.test\r\nX-FORWARDED-GROUPS: admins\r\nX-Portcullis-Jwt-Assertion: forged\r\nX-Forwarded-For: 10.9.9.9\r\nX-Real-IP: 10.9.9.9\r\nForwarded: for=10.9.9.9\r\n',
    );
    const before = upstream.upgrades.length;
    const reply = await rawRequest(proxy.port, text, 200);
    expect(reply).toMatch(/^HTTP\/1\.1 101 /);
    const seen = upstream.upgrades[before]!;
    const names = seen.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase().replaceAll('_', '-'));
    for (const forbidden of ['x-forwarded-user', 'x-forwarded-email', 'x-forwarded-groups', 'x-portcullis-jwt-assertion', 'x-real-ip', 'forwarded']) {
      expect(names).not.toContain(forbidden);
    }
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
  });
});

describe('WebSocket upgrades that are refused', () => {
  it('refuses an upgrade with 400 on a route with websockets: false, without contacting the upstream', async () => {
    const before = upstream.upgrades.length;
    const { text } = handshake('/other', '127.0.0.1');
    const reply = await rawRequest(proxy.port, text);
    expect(reply).toMatch(/^HTTP\/1\.1 400 /);
    expect(reply).toContain('"error":"websockets_disabled"');
    expect(upstream.upgrades.length).toBe(before);

    // The browser client sees a failed connection.
    const ws = new WebSocket(wsUrl('/other'));
    await expect(opened(ws)).rejects.toThrow();
  });

  it('refuses an upgrade for a host no route names with 404', async () => {
    const before = upstream.upgrades.length;
    const { text } = handshake('/', 'nobody.test');
    const reply = await rawRequest(proxy.port, text);
    expect(reply).toMatch(/^HTTP\/1\.1 404 /);
    expect(reply).toContain('"error":"unknown_host"');
    expect(upstream.upgrades.length).toBe(before);
  });

  it('refuses an upgrade whose path is ambiguous with 400', async () => {
    const before = upstream.upgrades.length;
    const { text } = handshake('/live/%2e%2e/admin', '127.0.0.1');
    const reply = await rawRequest(proxy.port, text);
    expect(reply).toMatch(/^HTTP\/1\.1 400 /);
    expect(upstream.upgrades.length).toBe(before);
  });
});
