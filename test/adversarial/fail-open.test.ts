// Class 6: nothing is let through because a dependency failed. Redis paused, stopped or
// holding garbage; an identity provider that hangs, errors or answers nonsense; a policy
// criterion that throws; a reload that tightens the policy. Each must deny or 503.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { get, raw, startTarget, type Target } from './harness.ts';
import { keysWithPrefix, startPrivateRedis, uniquePrefix, type PrivateRedis } from '../helpers/redis.ts';
import { baseConfig, startProxy, startUpstream, type Running, type Upstream } from '../helpers/servers.ts';
import { compileStandalonePolicy } from '../../src/policy/compile.ts';
import { evaluate } from '../../src/policy/evaluate.ts';

describe('a session store that fails', () => {
  let redis: PrivateRedis;
  let t: Target;
  const prefix = uniquePrefix('adversarial');
  beforeAll(async () => {
    redis = await startPrivateRedis();
    // These cases change Redis behind Portcullis's back and look at the very next request, so
    // the session cache (up to 1 s of stale reads by design) is off; it has its own case below.
    t = await startTarget({ extra: `session: { store: redis, cache_ttl: 0s }\nredis: { url: "${redis.url}", key_prefix: "${prefix}", command_timeout: 300ms }` });
  });
  afterAll(async () => {
    await t?.stop();
    await redis?.stop();
  });

  it('a Redis that stops answering (CLIENT PAUSE) gets 503, never the upstream; the same session works once it answers', async () => {
    const admin = new Redis(redis.url);
    try {
      await admin.call('CLIENT', 'PAUSE', '1500', 'ALL');
      const r = await get(t, '/paused');
      expect(r.status).toBe(503);
      expect(r.upstream).toHaveLength(0);
      await admin.call('CLIENT', 'UNPAUSE');
    } finally {
      admin.disconnect();
    }
    let status = 0;
    for (let i = 0; i < 40 && status !== 200; i++) {
      status = (await get(t, '/after-pause')).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe(200);
  });

  it('with the session cache (the default), a paused Redis is refused once the cached copy is a second old, never forwarded after', async () => {
    const cached = await startTarget({ extra: `session: { store: redis }\nredis: { url: "${redis.url}", key_prefix: "${prefix}c:", command_timeout: 300ms }` });
    const admin = new Redis(redis.url);
    try {
      expect((await get(cached, '/warm')).status).toBe(200);
      await admin.call('CLIENT', 'PAUSE', '2500', 'ALL');
      await new Promise((r) => setTimeout(r, 1100));
      const r = await get(cached, '/paused-cached');
      expect(r.status).toBe(503);
      expect(r.upstream).toHaveLength(0);
    } finally {
      await admin.call('CLIENT', 'UNPAUSE').catch(() => undefined);
      admin.disconnect();
      await cached.stop();
    }
  });

  it('a session record replaced by garbage (or by another record) is no session: sign in again, never a pass or a 500', async () => {
    // a second session, so that there are records to swap
    await t.env.browser().signIn(t.env.appUrl('/'), { username: 'bob', password: 'bob-demo' });
    const admin = new Redis(redis.url);
    try {
      const keys = await keysWithPrefix(admin, prefix);
      expect(keys.length).toBeGreaterThan(0);
      const originals = new Map<string, Buffer>();
      for (const key of keys) if ((await admin.type(key)) === 'string') originals.set(key, (await admin.getBuffer(key))!);
      for (const key of originals.keys()) await admin.set(key, 'garbage{"sub":"mallory"}', 'KEEPTTL');
      const r = await get(t, '/garbage');
      expect(r.status).toBe(401);
      expect(r.upstream).toHaveLength(0);
      // Swap every record for another one's bytes: a sealed record opens only under its own ticket.
      const values = [...originals.values()];
      expect(values.length).toBeGreaterThan(1);
      for (const [i, key] of [...originals.keys()].entries()) await admin.set(key, values[(i + 1) % values.length]!, 'KEEPTTL');
      const swapped = await get(t, '/swapped');
      expect(swapped.status).toBe(401);
      expect(swapped.upstream).toHaveLength(0);
    } finally {
      admin.disconnect();
    }
  });

  it('a Redis that is gone gets 503 and forwards nothing', async () => {
    await redis.stop();
    const r = await get(t, '/stopped');
    expect(r.status).toBe(503);
    expect(r.upstream).toHaveLength(0);
    const anonymous = await get(t, '/stopped', [], 'app.test', false);
    expect(anonymous.upstream).toHaveLength(0);
    expect(anonymous.status).not.toBe(200);
  });
});

describe('an identity provider that misbehaves', () => {
  type Mode = 'hang' | 'status-500' | 'not-json' | 'wrong-issuer';
  let mode: Mode = 'hang';
  let idp: http.Server;
  let upstream: Upstream;
  let proxy: Running;
  const hanging = new Set<http.ServerResponse>();
  beforeAll(async () => {
    idp = http.createServer((req, res) => {
      if (mode === 'hang') return void hanging.add(res);
      if (mode === 'status-500') return void res.writeHead(500).end('{"error":"boom"}');
      if (mode === 'not-json') return void res.writeHead(200, { 'content-type': 'application/json' }).end('<html>maintenance</html>');
      const origin = `http://127.0.0.1:${(idp.address() as AddressInfo).port}`;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer: 'https://evil.test', authorization_endpoint: `${origin}/auth`, token_endpoint: `${origin}/token`, jwks_uri: `${origin}/jwks` }));
    });
    await new Promise<void>((r) => idp.listen(0, '127.0.0.1', r));
    upstream = await startUpstream();
    proxy = await startProxy(`${baseConfig}identity_provider:
  issuer: http://127.0.0.1:${(idp.address() as AddressInfo).port}
  client_id: portcullis
  client_secret: s3cr3t-s3cr3t-s3cr3t
  insecure_allow_http: true
  timeout: 500ms
cookie: { insecure_allow_http: true }
routes:
  - { name: app, from: http://app.test, to: ${upstream.url}, policy: { allow: [ { authenticated: true } ] } }
`);
  });
  afterAll(async () => {
    await proxy?.stop();
    await upstream?.close();
    for (const res of hanging) res.destroy();
    idp?.closeAllConnections();
    await new Promise((r) => idp?.close(r));
  });

  it.each<Mode>(['hang', 'status-500', 'not-json', 'wrong-issuer'])('a provider that answers %s: nobody gets in, sign-in answers 503, a forged cookie is no session', async (m) => {
    mode = m;
    const target = { port: proxy.port, upstream };
    const anonymous = await raw(target, 'GET / HTTP/1.1\r\nHost: app.test\r\nAccept: text/html\r\nConnection: close\r\n\r\n', 100);
    expect(anonymous.upstream).toHaveLength(0);
    expect(anonymous.status).not.toBe(200);
    const forged = await raw(target, 'GET / HTTP/1.1\r\nHost: app.test\r\nAccept: application/json\r\nCookie: portcullis=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\nConnection: close\r\n\r\n', 100);
    expect(forged.upstream).toHaveLength(0);
    expect([401, 503]).toContain(forged.status);
    const start = await raw(target, 'GET /.portcullis/start?rd=http://app.test/ HTTP/1.1\r\nHost: access.test\r\nAccept: application/json\r\nConnection: close\r\n\r\n', 100);
    expect(start.status).toBe(503);
    expect(upstream.received).toHaveLength(0);
  });
});

describe('a policy criterion that throws', () => {
  it('is a denial with reason policy-error, never an allow (evaluate() with a claim whose read throws)', () => {
    const policy = compileStandalonePolicy({ allow: [{ claims: { claim: 'department', equals: 'accounting' } }, { authenticated: true }] }, { name: 'p' });
    const fail = () => {
      throw new Error('claim read failed');
    };
    // Every way of reading the object throws, as a corrupted claims record might.
    const claims = new Proxy({}, { get: fail, has: fail, getOwnPropertyDescriptor: fail, ownKeys: fail, getPrototypeOf: fail });
    const d = evaluate(policy, { now: Date.now(), request: { method: 'GET', path: '/', clientIp: '127.0.0.1' }, user: { sub: 'mallory', emailVerified: false, groups: [], claims } as never });
    expect(d.allow).toBe(false);
    expect(d.reasons.map((r) => r.code)).toEqual(['policy-error']);
  });

  it('facts that are not an object at all are a denial', () => {
    const policy = compileStandalonePolicy({ allow: [{ authenticated: true }] }, { name: 'p' });
    for (const bad of [null, undefined, 'x', 42]) expect(evaluate(policy, bad as never).allow).toBe(false);
  });
});

describe('a reload that tightens the policy', () => {
  let t: Target;
  beforeAll(async () => {
    t = await startTarget();
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('requests racing the reload are each decided by one whole configuration, and none is allowed after it', async () => {
    const file = t.env.proxy.configFile;
    const before = readFileSync(file, 'utf8');
    const tightened = before.replace('deny: [ { paths: [/admin] } ]', 'deny: [ { paths: [/] } ]');
    expect(tightened).not.toBe(before);
    const inFlight = Array.from({ length: 20 }, (_, i) => get(t, `/race-${i}`));
    writeFileSync(file, tightened);
    const result = await t.env.proxy.portcullis.reload();
    expect(result.ok).toBe(true);
    for (const r of await Promise.all(inFlight)) expect([200, 403]).toContain(r.status);
    for (let i = 0; i < 10; i++) {
      const r = await get(t, `/after-${i}`);
      expect(r.status).toBe(403);
      expect(r.upstream).toHaveLength(0);
    }
    // a broken file on top keeps the tightened policy, not the old one
    writeFileSync(file, tightened.replace('routes:', 'routes: [oops'));
    expect((await t.env.proxy.portcullis.reload()).ok).toBe(false);
    expect((await get(t, '/after-broken')).status).toBe(403);
  });
});
