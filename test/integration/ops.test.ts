// The operations listener: liveness, readiness with the loaded config's checksum,
// and Prometheus metrics that count requests by route and status.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'undici';
import { baseConfig, metricValue, startProxy, startUpstream, type Running, type Upstream } from '../helpers/servers.ts';

let upstream: Upstream;
let proxy: Running;

beforeAll(async () => {
  upstream = await startUpstream((req, res) => {
    res.writeHead(req.url === '/missing' ? 404 : 200, { 'content-type': 'text/plain' });
    res.end('x');
  });
  proxy = await startProxy(`${baseConfig}
routes:
  - { name: app, from: "http://app.test", to: "${upstream.url}", public: true }
  - { name: api, from: "http://app.test/api", to: "${upstream.url}", public: true }
`);
});
afterAll(async () => {
  await proxy?.stop();
  await upstream?.close();
});

async function ops(path: string) {
  const res = await request(`${proxy.opsUrl}${path}`);
  return { status: res.statusCode, type: String(res.headers['content-type']), body: await res.body.text() };
}

async function hit(host: string, path: string, times: number): Promise<void> {
  for (let i = 0; i < times; i++) await (await request(`${proxy.url}${path}`, { headers: { host, accept: 'application/json' } })).body.dump();
}

describe('operations endpoints', () => {
  it('/healthz answers 200 with the version', async () => {
    const r = await ops('/healthz');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ status: 'ok', version: expect.any(String) });
  });

  it('/readyz answers 200 with the checksum of the loaded file', async () => {
    const r = await ops('/readyz');
    expect(r.status).toBe(200);
    const body = JSON.parse(r.body) as { status: string; config: { file: string; checksum: string } };
    expect(body.status).toBe('ready');
    expect(body.config.file).toBe(proxy.configFile);
    expect(body.config.checksum).toBe(createHash('sha256').update(readFileSync(proxy.configFile)).digest('hex'));
  });

  it('/metrics counts requests by route and status after some traffic', async () => {
    const before = await ops('/metrics');
    const count = (text: string, route: string, status: string) => metricValue(text, 'portcullis_requests_total', { route, status });
    await hit('app.test', '/', 3);
    await hit('app.test', '/missing', 2);
    await hit('app.test', '/api/x', 4);
    await hit('nobody.test', '/', 1);
    const after = await ops('/metrics');
    expect(after.status).toBe(200);
    expect(after.type).toMatch(/^text\/plain/);
    expect(count(after.body, 'app', '200') - count(before.body, 'app', '200')).toBe(3);
    expect(count(after.body, 'app', '404') - count(before.body, 'app', '404')).toBe(2);
    expect(count(after.body, 'api', '200') - count(before.body, 'api', '200')).toBe(4);
    // Refused before routing: counted under an empty route name.
    expect(count(after.body, '', '404') - count(before.body, '', '404')).toBe(1);
    expect(after.body).toContain('portcullis_upstream_duration_seconds_bucket{');
    expect(metricValue(after.body, 'portcullis_upstream_duration_seconds_count', { route: 'api' })).toBeGreaterThanOrEqual(4);
  });

  it('an unknown ops path is 404 and lists the endpoints', async () => {
    const r = await ops('/nope');
    expect(r.status).toBe(404);
    expect(JSON.parse(r.body).endpoints).toEqual(expect.arrayContaining(['/healthz', '/readyz', '/metrics']));
  });

  it('the ops endpoints are not served on the public listener', async () => {
    const res = await request(`${proxy.url}/metrics`, { headers: { host: 'nobody.test', accept: 'application/json' } });
    expect(res.statusCode).toBe(404);
    expect(await res.body.text()).not.toContain('portcullis_requests_total');
  });
});
