// Class 3: a client that is not a trusted proxy writes forwarding headers to change a
// decision (a network rule) or the route. The corp.test route allows only 10.0.0.0/8;
// the test client is 127.0.0.1 and trusted_proxies is empty, so every one must be 403.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { get, startTarget, type Target } from './harness.ts';

let t: Target;
beforeAll(async () => {
  t = await startTarget();
});
afterAll(async () => {
  await t?.stop();
});

describe('client-sent forwarding headers do not move the client into a network', () => {
  it('the control: alice from 127.0.0.1 is refused by the network rule, not sent to sign in', async () => {
    const r = await get(t, '/', [], 'corp.test');
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body).reasons.map((x: { code: string }) => x.code)).toContain('network-unauthorized');
  });

  it.each([
    ['X-Forwarded-For', 'X-Forwarded-For: 10.1.2.3'],
    ['X-Forwarded-For with several hops', 'X-Forwarded-For: 10.1.2.3, 10.0.0.1'],
    ['x_forwarded_for with underscores', 'x_forwarded_for: 10.1.2.3'],
    ['Forwarded', 'Forwarded: for=10.1.2.3;proto=https'],
    ['X-Real-IP', 'X-Real-IP: 10.1.2.3'],
    ['True-Client-IP', 'True-Client-IP: 10.1.2.3'],
    ['CF-Connecting-IP', 'CF-Connecting-IP: 10.1.2.3'],
    ['X-Client-IP', 'X-Client-IP: 10.1.2.3'],
    ['X-Cluster-Client-IP', 'X-Cluster-Client-IP: 10.1.2.3'],
  ])('%s cannot make the client 10.1.2.3', async (_name, line) => {
    const r = await get(t, '/', [line], 'corp.test');
    expect(r.status).toBe(403);
    expect(r.upstream).toHaveLength(0);
  });

  it('the decision log records the socket address, not the claimed one', async () => {
    await get(t, '/logged-ip', ['X-Forwarded-For: 10.9.9.9'], 'corp.test');
    const line = readFileSync(t.env.proxy.logFile, 'utf8').split('\n').find((l) => l.includes('"type":"decision"') && l.includes('/logged-ip'));
    expect(JSON.parse(line!).client_ip).toBe('127.0.0.1');
  });
});

describe('client-sent rewrite headers do not change the route or the path', () => {
  it.each([
    ['X-Forwarded-Host naming the public route', 'X-Forwarded-Host: public.test'],
    ['X-Original-Host', 'X-Original-Host: public.test'],
    ['Forwarded host=', 'Forwarded: host=public.test'],
  ])('%s: a request without a session for app.test is still sent to sign in', async (_name, line) => {
    const r = await get(t, '/', [line], 'app.test', false);
    expect(r.status).toBe(401);
    expect(r.upstream).toHaveLength(0);
  });

  it.each([
    ['X-Original-URL', 'X-Original-URL: /admin'],
    ['X-Rewrite-URL', 'X-Rewrite-URL: /admin'],
    ['X-Original-URI', 'X-Original-URI: /admin'],
    ['X-Forwarded-Uri', 'X-Forwarded-Uri: /admin'],
    ['X-Forwarded-Prefix', 'X-Forwarded-Prefix: /admin'],
    ['X-Forwarded-Path', 'X-Forwarded-Path: /admin'],
  ])('%s never reaches the upstream, so an app that honours it cannot be steered to /admin', async (name, line) => {
    const r = await get(t, '/ok', [line]);
    expect(r.status).toBe(200);
    expect(r.upstream.map((x) => x.url)).toEqual(['/ok']);
    const sent = r.upstream[0]!.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    expect(sent).not.toContain(name.toLowerCase());
    expect(JSON.stringify(r.upstream[0]!.rawHeaders)).not.toContain('/admin');
  });

  it('X-Forwarded-Proto from an untrusted client is replaced by what Portcullis saw', async () => {
    const r = await get(t, '/ok', ['X-Forwarded-Proto: https', 'X-Forwarded-Port: 443', 'X-Forwarded-Scheme: https']);
    const h = r.upstream[0]!.headers;
    expect(h['x-forwarded-proto']).toBe('http');
    expect(h['x-forwarded-port']).toBeUndefined();
    expect(h['x-forwarded-scheme']).toBeUndefined();
  });

  it('X-Request-Id from an untrusted client is not believed (it would forge audit trails)', async () => {
    const r = await get(t, '/ok', ['X-Request-Id: forged-id-123']);
    expect(r.upstream[0]!.headers['x-request-id']).not.toBe('forged-id-123');
    expect(r.headers['x-request-id']).not.toBe('forged-id-123');
  });
});
