// Three Portcullis instances sharing one Redis, as behind a load balancer: a
// session made on one is good on all, a revocation on one is seen by all,
// and all three run (and say they run) the same configuration.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { startDemoIdp, type DemoIdp } from '../../src/demo/idp.ts';
import { Browser, loopbackAgent } from '../helpers/browser.ts';
import { alice, bob, defaultRoutes, freePorts } from '../helpers/login-env.ts';
import { SHARED_REDIS_URL, deleteKeysWithPrefix, uniquePrefix } from '../helpers/redis.ts';
import { metricValue, startProxy, startUpstream, type Running, type Upstream } from '../helpers/servers.ts';

const prefix = uniquePrefix('multi');
const ADMIN_TOKEN = randomBytes(24).toString('base64url');
let idp: DemoIdp;
let upstream: Upstream;
/** A, B, C; public_url points at A, where sign-in happens */
let instances: Running[] = [];

beforeAll(async () => {
  const ports = await freePorts(3);
  const publicUrl = `http://127.0.0.1:${ports[0]}`;
  const clientSecret = randomBytes(16).toString('hex');
  idp = await startDemoIdp({
    clients: [{ client_id: 'portcullis', client_secret: clientSecret, redirect_uris: [`${publicUrl}/.portcullis/callback`] }],
    log: { warn: () => {}, error: () => {} },
  });
  upstream = await startUpstream();
  // Byte for byte the same file on every instance; only the environment differs, as in a real rollout.
  const yaml = `listen: { address: "127.0.0.1:\${PORTCULLIS_PORT}" }
ops: { address: "127.0.0.1:0", admin_token: "\${ADMIN_TOKEN}" }
public_url: ${publicUrl}
identity_provider: { issuer: ${idp.issuer}, client_id: portcullis, client_secret: ${clientSecret}, insecure_allow_http: true }
cookie: { secret: ${randomBytes(32).toString('base64url')}, insecure_allow_http: true }
session: { store: redis }
redis: { url: "${SHARED_REDIS_URL}", key_prefix: "${prefix}" }
routes:${defaultRoutes.replaceAll('${UPSTREAM}', upstream.url)}
`;
  instances = await Promise.all(ports.map((port) => startProxy(yaml, { env: { ...process.env, PORTCULLIS_PORT: String(port), ADMIN_TOKEN } })));
  for (const instance of instances) {
    for (let i = 0; i < 100 && (await fetch(`${instance.opsUrl}/readyz`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 50));
  }
});

afterAll(async () => {
  await Promise.all(instances.map((i) => i.stop()));
  await upstream?.close();
  await idp?.close();
  await deleteKeysWithPrefix(prefix);
});

async function statusOn(instance: Running, cookie: string): Promise<number> {
  const res = await request(`http://app.test:${instance.port}/dashboard`, { dispatcher: loopbackAgent, headers: { cookie, accept: 'application/json' } });
  await res.body.dump();
  return res.statusCode;
}

async function signInOnA(user: { username: string; password: string }): Promise<string> {
  const browser = new Browser(idp.issuer);
  const page = await browser.signIn(`http://app.test:${instances[0]!.port}/`, user);
  expect(page.status).toBe(200);
  return browser.jar.header(new URL(`http://app.test:${instances[0]!.port}/`))!;
}

describe('several instances sharing Redis', () => {
  it('accepts a session made on one instance on every other', async () => {
    const cookie = await signInOnA(alice);
    expect(await Promise.all(instances.map((i) => statusOn(i, cookie)))).toEqual([200, 200, 200]);
  });

  it('refuses a session revoked on one instance on every instance within one second', async () => {
    const [a, b, c] = instances as [Running, Running, Running];
    const aliceCookie = await signInOnA(alice);
    const bobCookie = await signInOnA(bob);
    expect(await statusOn(b, aliceCookie)).toBe(200);

    const res = await fetch(`${c.opsUrl}/admin/sessions?user=alice@example.com`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { count: number }).count).toBeGreaterThanOrEqual(1);

    // A bound on behaviour, not a benchmark: poll every 50 ms and require refusal on A and B before one second is up.
    const deadline = Date.now() + 1000;
    let statuses: number[] = [];
    do {
      statuses = await Promise.all([statusOn(a, aliceCookie), statusOn(b, aliceCookie)]);
      if (statuses.every((s) => s === 401)) break;
      await new Promise((r) => setTimeout(r, 50));
    } while (Date.now() < deadline);
    expect(statuses).toEqual([401, 401]);
    expect(await statusOn(c, aliceCookie)).toBe(401);
    // Only Alice was signed out.
    expect(await Promise.all(instances.map((i) => statusOn(i, bobCookie)))).toEqual([200, 200, 200]);
  });

  it('reports the same configuration checksum on every instance', async () => {
    const checksums = await Promise.all(
      instances.map(async (i) => ((await (await fetch(`${i.opsUrl}/readyz`)).json()) as { config: { checksum: string } }).config.checksum),
    );
    expect(checksums[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(new Set(checksums).size).toBe(1);
    for (const i of instances) {
      const metrics = await (await fetch(`${i.opsUrl}/metrics`)).text();
      expect(metricValue(metrics, 'portcullis_config_info', { checksum: checksums[0]! })).toBe(1);
    }
  });
});
