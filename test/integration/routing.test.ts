// Requests reach the most specific route's upstream, and the upstream sees the path
// under its base path.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { baseConfig, startProxy, startUpstream, type Echo, type Running, type Upstream } from '../helpers/servers.ts';

// One upstream per route, each answering with its own name, so a response says who served it.
const names = ['exact', 'wildcard', 'deep-wildcard', 'api', 'api-v2', 'based'] as const;
const upstreams = new Map<string, Upstream>();
let proxy: Running;

beforeAll(async () => {
  for (const name of names) {
    upstreams.set(
      name,
      await startUpstream((req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ served_by: name, url: req.url, headers: req.headers }));
      }),
    );
  }
  const to = (name: string) => upstreams.get(name)!.url;
  proxy = await startProxy(`${baseConfig}
routes:
  - { name: deep-wildcard, from: "http://*.eu.corp.test", to: "${to('deep-wildcard')}", public: true }
  - { name: wildcard, from: "http://*.corp.test", to: "${to('wildcard')}", public: true }
  - { name: api-v2, from: "http://wiki.corp.test/api/v2", to: "${to('api-v2')}", public: true }
  - { name: api, from: "http://wiki.corp.test/api", to: "${to('api')}", public: true }
  - { name: exact, from: "http://wiki.corp.test", to: "${to('exact')}", public: true }
  - { name: based, from: "http://legacy.test/app", to: "${to('based')}/legacy/root/", public: true }
`);
});
afterAll(async () => {
  await proxy?.stop();
  for (const u of upstreams.values()) await u.close();
});

async function servedBy(host: string, path: string): Promise<{ status: number; name?: string; url?: string; error?: string }> {
  const res = await request(`${proxy.url}${path}`, { headers: { host, accept: 'application/json' } });
  const body = (await res.body.json()) as { served_by?: string; url?: string; error?: string } & Partial<Echo>;
  return { status: res.statusCode, name: body.served_by, url: body.url, error: body.error };
}

describe('routing precedence', () => {
  it('an exact host beats a wildcard', async () => {
    expect((await servedBy('wiki.corp.test', '/')).name).toBe('exact');
  });

  it('a longer wildcard suffix beats a shorter one', async () => {
    expect((await servedBy('hr.eu.corp.test', '/')).name).toBe('deep-wildcard');
    expect((await servedBy('hr.us.corp.test', '/')).name).toBe('wildcard');
  });

  it('the longest path prefix wins', async () => {
    expect((await servedBy('wiki.corp.test', '/api/v2/pages')).name).toBe('api-v2');
    expect((await servedBy('wiki.corp.test', '/api/v1/pages')).name).toBe('api');
  });

  it('a prefix matches on segment boundaries: /api takes /api/x and /api;x, not /apix', async () => {
    expect((await servedBy('wiki.corp.test', '/api/x')).name).toBe('api');
    expect((await servedBy('wiki.corp.test', '/api;x')).name).toBe('api');
    expect((await servedBy('wiki.corp.test', '/apix')).name).toBe('exact');
  });

  it('the Host header matches case-insensitively and with a port or trailing dot', async () => {
    expect((await servedBy('WIKI.Corp.TEST:8443', '/')).name).toBe('exact');
    expect((await servedBy('wiki.corp.test.', '/')).name).toBe('exact');
  });

  it('a host no route names gets 404 without reaching any upstream', async () => {
    const before = [...upstreams.values()].reduce((n, u) => n + u.received.length, 0);
    const r = await servedBy('corp.test', '/');
    expect(r.status).toBe(404);
    expect(r.error).toBe('unknown_host');
    expect([...upstreams.values()].reduce((n, u) => n + u.received.length, 0)).toBe(before);
  });

  it('a known host outside every prefix of its routes gets 404', async () => {
    const r = await servedBy('legacy.test', '/other');
    expect(r.status).toBe(404);
  });
});

describe('an upstream with a base path in "to"', () => {
  it('receives the full request path under its base path, with the query unchanged', async () => {
    const r = await servedBy('legacy.test', '/app/page?q=a%20b&x=1');
    expect(r.name).toBe('based');
    expect(r.url).toBe('/legacy/root/app/page?q=a%20b&x=1');
  });

  it('receives the Host of the upstream, not the client\'s, unless preserve_host is set', async () => {
    const res = await request(`${proxy.url}/app`, { headers: { host: 'legacy.test' } });
    const body = (await res.body.json()) as Echo;
    expect(body.headers.host).toBe(new URL(upstreams.get('based')!.url).host);
    expect(body.headers['x-forwarded-host']).toBe('legacy.test');
  });
});
