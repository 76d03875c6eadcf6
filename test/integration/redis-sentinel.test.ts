// Portcullis on a real Redis Sentinel set: when the primary dies, requests that
// need a session fail closed (503) while there is no primary, and once the
// sentinels promote the replica they succeed again, without restarting
// Portcullis and with the session written before the fail-over still valid.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { request } from 'undici';
import { startDemoIdp, type DemoIdp } from '../../src/demo/idp.ts';
import { Browser, loopbackAgent } from '../helpers/browser.ts';
import { alice, defaultRoutes, freePort } from '../helpers/login-env.ts';
import { startSentinelSet, type SentinelSet } from '../helpers/sentinel.ts';
import { startProxy, startUpstream, type Running, type Upstream } from '../helpers/servers.ts';

let set: SentinelSet;
let idp: DemoIdp;
let upstream: Upstream;
let proxy: Running;
let port: number;

beforeAll(async () => {
  set = await startSentinelSet();
  port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const clientSecret = randomBytes(16).toString('hex');
  idp = await startDemoIdp({
    clients: [{ client_id: 'portcullis', client_secret: clientSecret, redirect_uris: [`${publicUrl}/.portcullis/callback`] }],
    log: { warn: () => {}, error: () => {} },
  });
  upstream = await startUpstream();
  proxy = await startProxy(`listen: { address: "127.0.0.1:${port}" }
ops: { address: "127.0.0.1:0" }
public_url: ${publicUrl}
identity_provider: { issuer: ${idp.issuer}, client_id: portcullis, client_secret: ${clientSecret}, insecure_allow_http: true }
cookie: { secret: ${randomBytes(32).toString('base64url')}, insecure_allow_http: true }
session: { store: redis }
redis:
  sentinel:
    sentinels: [${set.sentinels.map((s) => `"${s.host}:${s.port}"`).join(', ')}]
    master: ${set.masterName}
  command_timeout: 300ms
routes:${defaultRoutes.replaceAll('${UPSTREAM}', upstream.url)}
`);
  for (let i = 0; i < 100 && (await fetch(`${proxy.opsUrl}/readyz`)).status !== 200; i++) await sleep(50);
}, 40_000);

afterAll(async () => {
  // Each step on its own, so a failure in one still stops the rest (and every Redis process).
  await proxy?.stop().catch(() => {});
  await upstream?.close().catch(() => {});
  await idp?.close().catch(() => {});
  await set?.stop();
});

async function appStatus(cookie: string): Promise<number> {
  const res = await request(`http://app.test:${port}/reports`, { dispatcher: loopbackAgent, headers: { cookie, accept: 'application/json' }, headersTimeout: 5000 });
  await res.body.dump();
  return res.statusCode;
}

describe('Portcullis with Redis Sentinel', () => {
  it('fails closed during a fail-over and serves the existing session again once the replica is promoted', async () => {
    const browser = new Browser(idp.issuer);
    expect((await browser.signIn(`http://app.test:${port}/`, alice)).status).toBe(200);
    const cookie = browser.jar.header(new URL(`http://app.test:${port}/`))!;
    expect(await appStatus(cookie)).toBe(200);

    // Do not kill the primary before the replica holds the session: Redis replication is asynchronous.
    const sessionId = decodeURIComponent(cookie.split('=')[1]!).split('.')[0]!;
    const replica = new Redis(set.replicaPort, '127.0.0.1');
    try {
      for (let i = 0; i < 50 && (await replica.exists(`portcullis:s:{${sessionId}}`)) !== 1; i++) await sleep(100);
      expect(await replica.exists(`portcullis:s:{${sessionId}}`)).toBe(1);
    } finally {
      replica.disconnect();
    }

    await set.killPrimary();
    const seen: number[] = [];
    const deadline = Date.now() + 20_000;
    let last = 0;
    while (Date.now() < deadline) {
      last = await appStatus(cookie);
      seen.push(last);
      if (last === 200 && seen.includes(503)) break;
      await sleep(100);
    }
    // While there was no primary: 503, never a sign-in redirect or 401 (the session was not "missing").
    expect(seen).toContain(503);
    expect(seen.filter((s) => s !== 503 && s !== 200)).toEqual([]);
    // Afterwards the same cookie works, served by the promoted replica.
    expect(last).toBe(200);
    // Sentinels agree on the new primary a moment after the first one promoted it.
    let primary = await set.currentPrimaryPort();
    for (let i = 0; i < 50 && primary !== set.replicaPort; i++) {
      await sleep(100);
      primary = await set.currentPrimaryPort();
    }
    expect(primary).toBe(set.replicaPort);
    expect((await fetch(`${proxy.opsUrl}/readyz`)).status).toBe(200);
  });
});
