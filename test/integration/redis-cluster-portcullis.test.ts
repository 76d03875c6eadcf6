// Portcullis on a real three-primary Redis Cluster: sign in, use the session,
// revoke the user through the admin API, and see the session refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { Redis } from 'ioredis';
import { startDemoIdp, type DemoIdp } from '../../src/demo/idp.ts';
import { Browser, loopbackAgent } from '../helpers/browser.ts';
import { alice, bob, defaultRoutes, freePort } from '../helpers/login-env.ts';
import { startPrivateCluster, type PrivateCluster } from '../helpers/redis.ts';
import { startProxy, startUpstream, type Running, type Upstream } from '../helpers/servers.ts';

const ADMIN_TOKEN = randomBytes(24).toString('base64url');
let cluster: PrivateCluster;
let idp: DemoIdp;
let upstream: Upstream;
let proxy: Running;
let port: number;

beforeAll(async () => {
  cluster = await startPrivateCluster();
  port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const clientSecret = randomBytes(16).toString('hex');
  idp = await startDemoIdp({
    clients: [{ client_id: 'portcullis', client_secret: clientSecret, redirect_uris: [`${publicUrl}/.portcullis/callback`] }],
    log: { warn: () => {}, error: () => {} },
  });
  upstream = await startUpstream();
  proxy = await startProxy(`listen: { address: "127.0.0.1:${port}" }
ops: { address: "127.0.0.1:0", admin_token: "${ADMIN_TOKEN}" }
public_url: ${publicUrl}
identity_provider: { issuer: ${idp.issuer}, client_id: portcullis, client_secret: ${clientSecret}, insecure_allow_http: true }
cookie: { secret: ${randomBytes(32).toString('base64url')}, insecure_allow_http: true }
session: { store: redis }
redis:
  cluster: { nodes: ["127.0.0.1:${cluster.nodes[0]!.port}"] }
  command_timeout: 1s
routes:${defaultRoutes.replaceAll('${UPSTREAM}', upstream.url)}
`);
  for (let i = 0; i < 200 && (await fetch(`${proxy.opsUrl}/readyz`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 50));
}, 30_000);

afterAll(async () => {
  await proxy?.stop();
  await upstream?.close();
  await idp?.close();
  await cluster?.stop();
});

async function appStatus(cookie: string): Promise<number> {
  const res = await request(`http://app.test:${port}/orders`, { dispatcher: loopbackAgent, headers: { cookie, accept: 'application/json' } });
  await res.body.dump();
  return res.statusCode;
}

async function signIn(user: { username: string; password: string }): Promise<string> {
  const browser = new Browser(idp.issuer);
  expect((await browser.signIn(`http://app.test:${port}/`, user)).status).toBe(200);
  return browser.jar.header(new URL(`http://app.test:${port}/`))!;
}

describe('Portcullis with Redis Cluster', () => {
  it('signs in, serves the session from the cluster, and refuses it once the user is revoked through the admin API', async () => {
    const first = await signIn(alice);
    const second = await signIn(alice);
    const other = await signIn(bob);
    expect([await appStatus(first), await appStatus(second), await appStatus(other)]).toEqual([200, 200, 200]);

    // The sessions really are in the cluster: three session keys over its primaries.
    const keyCounts = await Promise.all(
      cluster.nodes.map(async ({ port: nodePort }) => {
        const node = new Redis(nodePort, '127.0.0.1');
        try {
          return (await node.keys('portcullis:s:*')).length;
        } finally {
          node.disconnect();
        }
      }),
    );
    expect(keyCounts.reduce((a, b) => a + b, 0)).toBe(3);

    const headers = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const listed = (await (await fetch(`${proxy.opsUrl}/admin/sessions?user=alice@example.com`, { headers })).json()) as { count: number };
    expect(listed.count).toBe(2);
    const res = await fetch(`${proxy.opsUrl}/admin/sessions?user=alice@example.com`, { method: 'DELETE', headers });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { summary: string }).summary).toBe('revoked 2 sessions of alice@example.com');

    expect([await appStatus(first), await appStatus(second), await appStatus(other)]).toEqual([401, 401, 200]);
  });
});
