import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { baseConfig, startProxy, startUpstream, type Running, type Upstream } from '../helpers/servers.ts';

let upstream: Upstream;
let proxy: Running;

beforeAll(async () => {
  upstream = await startUpstream();
  proxy = await startProxy(`${baseConfig}
routes:
  - name: app
    from: http://app.test
    to: ${upstream.url}
    public: true
`);
});
afterAll(async () => {
  await proxy?.stop();
  await upstream?.close();
});

describe('a public route', () => {
  it('forwards a GET to its upstream and returns the answer with a request id', async () => {
    const res = await request(`${proxy.url}/hello?x=1`, { headers: { host: 'app.test' } });
    expect(res.statusCode).toBe(200);
    const body = (await res.body.json()) as { url: string; headers: Record<string, string> };
    expect(body.url).toBe('/hello?x=1');
    expect(body.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(body.headers['x-forwarded-proto']).toBe('http');
    expect(body.headers['x-forwarded-host']).toBe('app.test');
    expect(res.headers['x-request-id']).toBe(body.headers['x-request-id']);
  });

  it('answers 404 for a host no route names, without contacting any upstream', async () => {
    const before = upstream.received.length;
    const res = await request(`${proxy.url}/`, { headers: { host: 'other.test', accept: 'application/json' } });
    expect(res.statusCode).toBe(404);
    expect(((await res.body.json()) as { error: string }).error).toBe('unknown_host');
    expect(upstream.received.length).toBe(before);
  });
});
