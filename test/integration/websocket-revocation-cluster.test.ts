// Revocation reaches open WebSockets on every instance: sign out through instance B,
// and the WebSocket the same session opened on instance A closes within a second.
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLoginEnv, alice, type LoginEnv } from '../helpers/login-env.ts';
import { startWebSocketUpstream, type WebSocketUpstream } from '../helpers/websocket.ts';
import { startProxy, type Running } from '../helpers/servers.ts';
import { deleteKeysWithPrefix, uniquePrefix } from '../helpers/redis.ts';
import { request } from 'undici';
import { loopbackAgent } from '../helpers/browser.ts';

let ws: WebSocketUpstream;
let a: LoginEnv;
let b: Running;
const prefix = uniquePrefix('wsrev');

beforeAll(async () => {
  ws = await startWebSocketUpstream();
  a = await startLoginEnv({
    // A long interval: only the revocation message can close the socket in time.
    extra: `websockets: { recheck_interval: 1h }
session: { store: redis, cache_ttl: 1s }
redis: { url: "redis://127.0.0.1:6379/0", key_prefix: "${prefix}" }`,
    routes: `
  - name: live
    from: http://live.test
    to: ${ws.url}
    websockets: true
    policy: { allow: [ { authenticated: true } ] }`,
  });
  // Instance B: the same configuration on other ports.
  const yaml = readFileSync(a.proxy.configFile, 'utf8').replace(/listen: \{ address: "127\.0\.0\.1:\d+" \}/, 'listen: { address: "127.0.0.1:0" }');
  b = await startProxy(yaml);
});
afterAll(async () => {
  await b?.stop();
  await a?.stop();
  await ws?.close();
  await deleteKeysWithPrefix(prefix);
});

function openSocket(port: number, cookie: string): Promise<{ closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.on('error', () => {});
    socket.write([`GET /feed HTTP/1.1`, `Host: live.test:${port}`, 'Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13', `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`, `Cookie: ${cookie}`, '', ''].join('\r\n'));
    socket.once('data', (d) => (String(d).startsWith('HTTP/1.1 101') ? resolve({ closed }) : reject(new Error(String(d).split('\r\n')[0]))));
  });
}

describe('revocation across instances', () => {
  it('closes a WebSocket on instance A within a second of signing out on instance B', async () => {
    const browser = a.browser();
    await browser.signIn(`http://live.test:${a.port}/.portcullis/userinfo`, alice);
    const cookie = browser.jar.header(new URL(`http://live.test:${a.port}/`))!;
    const { closed } = await openSocket(a.port, cookie);

    // Sign out on B with the same session (its confirmation form carries the CSRF token).
    const form = await request(`http://live.test:${b.port}/.portcullis/logout`, { dispatcher: loopbackAgent, headers: { cookie, accept: 'text/html' } });
    const csrf = /name="csrf" value="([^"]+)"/.exec(await form.body.text())![1]!;
    const out = await request(`http://live.test:${b.port}/.portcullis/logout`, { dispatcher: loopbackAgent, method: 'POST', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: `csrf=${encodeURIComponent(csrf)}` });
    await out.body.dump();
    expect(out.statusCode).toBe(302);

    const result = await Promise.race([closed.then(() => 'closed'), new Promise((r) => setTimeout(() => r('still open'), 1000))]);
    expect(result).toBe('closed');
  });

  it('refuses a session on instance A within a second of signing out on B, although A keeps sessions in a one-second cache', async () => {
    const browser = a.browser();
    await browser.signIn(`http://live.test:${a.port}/.portcullis/userinfo`, alice);
    const cookie = browser.jar.header(new URL(`http://live.test:${a.port}/`))!;
    const status = async (port: number) => {
      const res = await request(`http://live.test:${port}/.portcullis/userinfo`, { dispatcher: loopbackAgent, headers: { cookie, accept: 'application/json' } });
      await res.body.dump();
      return res.statusCode;
    };
    expect(await status(a.port)).toBe(200); // now cached on A
    const form = await request(`http://live.test:${b.port}/.portcullis/logout`, { dispatcher: loopbackAgent, headers: { cookie, accept: 'text/html' } });
    const csrf = /name="csrf" value="([^"]+)"/.exec(await form.body.text())![1]!;
    const out = await request(`http://live.test:${b.port}/.portcullis/logout`, { dispatcher: loopbackAgent, method: 'POST', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: `csrf=${encodeURIComponent(csrf)}` });
    await out.body.dump();
    const deadline = Date.now() + 1000;
    let last = 200;
    while (Date.now() < deadline && last === 200) last = await status(a.port);
    expect(last).toBe(401);
  });
});
