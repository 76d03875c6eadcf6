// Continuous verification: an open WebSocket is closed when its session is signed out,
// and when the device posture it was authorized with expires.
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLoginEnv, alice, type LoginEnv } from '../helpers/login-env.ts';
import { startWebSocketUpstream, type WebSocketUpstream } from '../helpers/websocket.ts';
import { createPostureIssuer, type PostureIssuer } from '../helpers/posture.ts';
import type { Browser } from '../helpers/browser.ts';

let ws: WebSocketUpstream;
let mdm: PostureIssuer;
let env: LoginEnv;

beforeAll(async () => {
  ws = await startWebSocketUpstream();
  mdm = await createPostureIssuer();
  env = await startLoginEnv({
    extra: `websockets: { recheck_interval: 300ms }
device_posture:
  jwks_url: ${mdm.jwksUrl}
  insecure_allow_http: true
  issuer: ${mdm.issuer}
  audience: ${mdm.audience}`,
    routes: `
  - name: live
    from: http://live.test
    to: ${ws.url}
    websockets: true
    policy: { allow: [ { authenticated: true } ] }
  - name: managed
    from: http://managed.test
    to: ${ws.url}
    websockets: true
    policy: { allow: [ { device: { managed: true } } ] }`,
  });
});
afterAll(async () => {
  await env?.stop();
  await ws?.close();
  await mdm?.close();
});

function ticketFor(browser: Browser, host: string): string {
  return browser.jar.cookies.find((c) => c.name === 'portcullis' && c.host === host)!.value;
}

/** Open a WebSocket by hand (so the test sets Cookie and posture) and resolve once it switched protocols. */
function openSocket(host: string, headers: Record<string, string>): Promise<{ socket: net.Socket; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(env.port, '127.0.0.1');
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    let head = '';
    const timer = setTimeout(() => (socket.destroy(), reject(new Error('no upgrade'))), 5000);
    socket.on('error', () => {});
    socket.write(
      [`GET /feed HTTP/1.1`, `Host: ${host}:${env.port}`, 'Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13', `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), '', ''].join('\r\n'),
    );
    socket.on('data', function onData(chunk) {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      clearTimeout(timer);
      if (!head.startsWith('HTTP/1.1 101')) return reject(new Error(`upgrade refused: ${head.split('\r\n')[0]}`));
      resolve({ socket, closed });
    });
  });
}

async function within<T>(p: Promise<T>, ms: number): Promise<'in time' | 'too late'> {
  return Promise.race([p.then(() => 'in time' as const), new Promise<'too late'>((r) => setTimeout(() => r('too late'), ms))]);
}

describe('open WebSockets are verified continuously', () => {
  it('closes a WebSocket within a second when its session is signed out', async () => {
    const browser = env.browser();
    await browser.signIn(`http://live.test:${env.port}/.portcullis/userinfo`, alice);
    const { socket, closed } = await openSocket('live.test', { Cookie: `portcullis=${ticketFor(browser, 'live.test')}` });
    // still open a little later: nothing changed
    expect(await within(closed, 700)).toBe('too late');
    // sign out through the confirmation form
    const confirm = await browser.open(`http://live.test:${env.port}/.portcullis/logout`);
    const csrf = /name="csrf" value="([^"]+)"/.exec(confirm.body)![1]!;
    await browser.fetch(`http://live.test:${env.port}/.portcullis/logout`, { method: 'POST', body: `csrf=${encodeURIComponent(csrf)}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(await within(closed, 1000)).toBe('in time');
    socket.destroy();
  });

  it('closes a WebSocket when the device posture it was opened with expires', async () => {
    const browser = env.browser();
    await browser.signIn(`http://managed.test:${env.port}/.portcullis/userinfo`, alice);
    const nowS = Math.floor(Date.now() / 1000);
    // Portcullis tolerates 30 s of clock difference, so this token has about two seconds left.
    const posture = await mdm.sign({ sub: 'alice', device_id: 'l1', managed: true }, { iat: nowS - 40, exp: nowS - 28 });
    const { socket, closed } = await openSocket('managed.test', { Cookie: `portcullis=${ticketFor(browser, 'managed.test')}`, 'X-Device-Posture': posture });
    try {
      expect(await within(closed, 500)).toBe('too late');
      expect(await within(closed, 5000)).toBe('in time');
    } finally {
      socket.destroy();
    }
  });
});
