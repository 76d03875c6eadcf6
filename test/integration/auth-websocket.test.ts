// A WebSocket on a protected route is authorized like any request: no session, no socket;
// with one, the upstream sees the same verified identity on the upgrade request.
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLoginEnv, alice, type LoginEnv } from '../helpers/login-env.ts';
import { acceptKey, decodeFrame, startWebSocketUpstream, type WebSocketUpstream } from '../helpers/websocket.ts';
import { parseRawResponse } from '../helpers/servers.ts';

let ws: WebSocketUpstream;
let env: LoginEnv;
let ticket: string;
beforeAll(async () => {
  ws = await startWebSocketUpstream();
  env = await startLoginEnv({
    routes: `
  - name: live
    from: http://live.test
    policy: { allow: [ { authenticated: true } ] }
    to: ${ws.url}
    websockets: true
    headers: { X-Remote-Email: "{email}" }`,
  });
  const browser = env.browser();
  await browser.signIn(`http://live.test:${env.port}/.portcullis/userinfo`, alice);
  ticket = browser.jar.cookies.find((c) => c.name === 'portcullis' && c.host === 'live.test')!.value;
});
afterAll(async () => {
  await env?.stop();
  await ws?.close();
});

interface Upgrade {
  status: number;
  headers: Record<string, string>;
  body: string;
  socket: net.Socket;
  /** bytes after the response head (WebSocket frames once switched) */
  rest: Buffer;
}

/** A WebSocket handshake by hand, so the test controls Host, Cookie and every other header. */
function upgrade(path: string, headers: Record<string, string>): Promise<Upgrade> {
  const key = randomBytes(16).toString('base64');
  return new Promise((resolve, reject) => {
    const socket = net.connect(env.port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => (socket.destroy(), reject(new Error('no answer to the upgrade'))), 5000);
    socket.on('error', reject);
    socket.write(
      [`GET ${path} HTTP/1.1`, `Host: live.test:${env.port}`, 'Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13', `Sec-WebSocket-Key: ${key}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), '', ''].join('\r\n'),
    );
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = parseRawResponse(buf.subarray(0, end + 4).toString('latin1'));
      // a refusal carries a body; wait for all of it
      const length = Number(head.headers['content-length'] ?? 0);
      if (head.status !== 101 && buf.length < end + 4 + length) return;
      clearTimeout(timer);
      socket.off('data', onData);
      if (head.status === 101) expect(head.headers['sec-websocket-accept']).toBe(acceptKey(key));
      resolve({ status: head.status, headers: head.headers, body: buf.subarray(end + 4, end + 4 + length).toString('utf8'), socket, rest: buf.subarray(end + 4) });
    };
    socket.on('data', onData);
  });
}

function firstFrame(u: Upgrade): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = u.rest;
    const timer = setTimeout(() => reject(new Error('no frame')), 5000);
    const check = () => {
      const frame = decodeFrame(buf);
      if (!frame) return;
      clearTimeout(timer);
      u.socket.off('data', onData);
      resolve(frame.payload.toString('utf8'));
    };
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      check();
    };
    u.socket.on('data', onData);
    check();
  });
}

describe('WebSockets on a protected route', () => {
  it('are refused with 401 without a session, and never reach the upstream', async () => {
    const before = ws.upgrades.length;
    const u = await upgrade('/feed', {});
    u.socket.destroy();
    expect(u.status).toBe(401);
    expect(JSON.parse(u.body)).toMatchObject({ error: 'login_required' });
    expect(ws.upgrades.length).toBe(before);
  });

  it('are refused with a forged or revoked-looking session cookie', async () => {
    const u = await upgrade('/feed', { Cookie: `portcullis=${'A'.repeat(22)}.${'B'.repeat(43)}` });
    u.socket.destroy();
    expect(u.status).toBe(401);
  });

  it('connect with a session, and the upstream sees the identity headers (and not the session cookie)', async () => {
    const before = ws.upgrades.length;
    const u = await upgrade('/feed?room=1', {
      Cookie: `theme=dark; portcullis=${ticket}`,
      // a client trying to claim another identity
      'X-Forwarded-User': 'mallory',
      'X-Remote-Email': 'mallory@example.com',
    });
    try {
      expect(u.status).toBe(101);
      expect(await firstFrame(u)).toBe('hello /feed?room=1');
    } finally {
      u.socket.destroy();
    }
    const seen = ws.upgrades.slice(before);
    expect(seen).toHaveLength(1);
    const h = seen[0]!.headers;
    expect(h['x-forwarded-user']).toBe('alice');
    expect(h['x-forwarded-email']).toBe('alice@example.com');
    expect(h['x-remote-email']).toBe('alice@example.com');
    expect(h['x-portcullis-jwt-assertion']).toMatch(/^eyJ/);
    expect(h.cookie).toBe('theme=dark');
  });
});
