// The admin API on the operations listener: list and revoke sessions with the
// admin token or a client certificate, refuse everyone else, never appear on
// the public listener, and log every action.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request, type Dispatcher } from 'undici';
import { startDemoIdp, type DemoIdp } from '../../src/demo/idp.ts';
import { Browser, loopbackAgent } from '../helpers/browser.ts';
import { alice, bob, defaultRoutes, freePort } from '../helpers/login-env.ts';
import { baseConfig, startProxy, startUpstream, tempDir, type Running, type Upstream } from '../helpers/servers.ts';

const ADMIN_TOKEN = randomBytes(24).toString('base64url'); // 32 characters

let idp: DemoIdp;
let upstream: Upstream;
let proxy: Running;
let port: number;
let certs: ReturnType<typeof makeCertificates>;
/** trusts the ops server certificate, presents no client certificate */
let noCert: Agent;
let goodCert: Agent;
let foreignCert: Agent;

/** A CA with one client, a second CA with one client, and a server certificate for 127.0.0.1. */
function makeCertificates(dir: string) {
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  const key = (name: string) => openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`);
  writeFileSync(join(dir, 'client.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n');
  for (const ca of ['admin-ca', 'other-ca']) {
    key(ca);
    openssl('req', '-x509', '-new', '-key', `${ca}.key`, '-out', `${ca}.pem`, '-days', '1', '-subj', `/CN=${ca}`);
    const client = `${ca}-client`;
    key(client);
    openssl('req', '-new', '-key', `${client}.key`, '-out', `${client}.csr`, '-subj', `/O=Example Ops/CN=${ca === 'admin-ca' ? 'ops-oncall' : 'intruder'}`);
    openssl('x509', '-req', '-in', `${client}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${client}.pem`, '-days', '1', '-extfile', 'client.ext');
  }
  key('server');
  openssl('req', '-x509', '-new', '-key', 'server.key', '-out', 'server.pem', '-days', '1', '-subj', '/CN=ops', '-addext', 'subjectAltName=IP:127.0.0.1');
  const read = (name: string) => readFileSync(join(dir, name), 'utf8');
  return {
    dir,
    server: read('server.pem'),
    goodClient: { cert: read('admin-ca-client.pem'), key: read('admin-ca-client.key') },
    foreignClient: { cert: read('other-ca-client.pem'), key: read('other-ca-client.key') },
  };
}

beforeAll(async () => {
  certs = makeCertificates(tempDir('portcullis-admin-certs-'));
  port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const clientSecret = randomBytes(16).toString('hex');
  idp = await startDemoIdp({
    clients: [{ client_id: 'portcullis', client_secret: clientSecret, redirect_uris: [`${publicUrl}/.portcullis/callback`] }],
    log: { warn: () => {}, error: () => {} },
  });
  upstream = await startUpstream();
  proxy = await startProxy(
    `listen: { address: "127.0.0.1:${port}" }
ops:
  address: "127.0.0.1:0"
  admin_token: \${ADMIN_TOKEN}
  tls: { cert: ${certs.dir}/server.pem, key: ${certs.dir}/server.key, client_ca: ${certs.dir}/admin-ca.pem }
public_url: ${publicUrl}
identity_provider: { issuer: ${idp.issuer}, client_id: portcullis, client_secret: ${clientSecret}, insecure_allow_http: true }
cookie: { secret: ${randomBytes(32).toString('base64url')}, insecure_allow_http: true }
routes:${defaultRoutes.replaceAll('${UPSTREAM}', upstream.url)}
`,
    { env: { ...process.env, ADMIN_TOKEN } },
  );
  noCert = new Agent({ connect: { ca: certs.server } });
  goodCert = new Agent({ connect: { ca: certs.server, ...certs.goodClient } });
  foreignCert = new Agent({ connect: { ca: certs.server, ...certs.foreignClient } });
  for (let i = 0; i < 100 && (await ops('GET', '/readyz')).status !== 200; i++) await new Promise((r) => setTimeout(r, 50));
});

afterAll(async () => {
  await proxy?.stop();
  await upstream?.close();
  await idp?.close();
  await Promise.all([noCert, goodCert, foreignCert].map((a) => a?.close()));
});

const opsUrl = () => `https://127.0.0.1:${proxy.portcullis.addresses.ops.port}`;

async function ops(method: string, path: string, options: { token?: string; agent?: Dispatcher } = {}) {
  const res = await request(opsUrl() + path, {
    method: method as 'GET',
    dispatcher: options.agent ?? noCert,
    headers: options.token !== undefined ? { authorization: `Bearer ${options.token}` } : {},
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: (text.startsWith('{') ? JSON.parse(text) : undefined) as Record<string, any> };
}

async function signIn(user: { username: string; password: string }): Promise<string> {
  const browser = new Browser(idp.issuer);
  const page = await browser.signIn(`http://app.test:${port}/`, user);
  expect(page.status).toBe(200);
  return browser.jar.header(new URL(`http://app.test:${port}/`))!;
}

async function appStatus(cookie: string): Promise<number> {
  const res = await request(`http://app.test:${port}/whoami`, { dispatcher: loopbackAgent, headers: { cookie, accept: 'application/json' } });
  await res.body.dump();
  return res.statusCode;
}

function adminLogLines(): Record<string, any>[] {
  return readFileSync(proxy.logFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, any>)
    .filter((entry) => entry.type === 'admin');
}

describe('the admin API', () => {
  it('refuses a request without credentials (401) and one with a wrong token (403), and logs the refusal', async () => {
    const none = await ops('GET', '/admin/sessions?user=alice@example.com');
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
    const wrong = await ops('GET', '/admin/sessions?user=alice@example.com', { token: ADMIN_TOKEN.slice(0, -1) + (ADMIN_TOKEN.endsWith('x') ? 'y' : 'x') });
    expect(wrong.status).toBe(403);
    expect(wrong.json.error).toBe('admin_forbidden');
    const refusals = adminLogLines().filter((l) => l.result === 'refused');
    expect(refusals.map((l) => l.status)).toEqual(expect.arrayContaining([401, 403]));
    expect(JSON.stringify(refusals)).not.toContain(ADMIN_TOKEN.slice(0, 20));
  });

  it('lists a user\'s sessions by email and by subject, with times and without tokens', async () => {
    const cookie = await signIn(alice);
    const byEmail = await ops('GET', '/admin/sessions?user=alice@example.com', { token: ADMIN_TOKEN });
    expect(byEmail.status).toBe(200);
    expect(byEmail.json.count).toBeGreaterThanOrEqual(1);
    const ticketId = decodeURIComponent(cookie.split('=')[1]!).split('.')[0]!;
    const mine = byEmail.json.sessions.find((s: { id: string }) => s.id === ticketId);
    expect(mine).toMatchObject({ email: 'alice@example.com' });
    expect(Date.parse(mine.created_at)).toBeLessThanOrEqual(Date.parse(mine.idle_expires_at));
    expect(Date.parse(mine.idle_expires_at)).toBeLessThanOrEqual(Date.parse(mine.expires_at));
    // Only the id, never the secret half of the ticket that the cookie holds.
    expect(byEmail.text).not.toContain(cookie.split('.')[1]!.slice(0, 20));
    const bySub = await ops('GET', '/admin/sessions?user=alice', { token: ADMIN_TOKEN });
    expect(bySub.json.sessions.map((s: { id: string }) => s.id)).toContain(ticketId);
    expect((await ops('GET', '/admin/sessions', { token: ADMIN_TOKEN })).status).toBe(400);
  });

  it('revokes every session of a user on their next request, leaves other users alone, and logs who did it', async () => {
    const aliceCookie = await signIn(alice);
    const bobCookie = await signIn(bob);
    expect(await appStatus(aliceCookie)).toBe(200);
    const revoked = await ops('DELETE', '/admin/sessions?user=alice@example.com', { token: ADMIN_TOKEN });
    expect(revoked.status).toBe(200);
    expect(revoked.json.count).toBeGreaterThanOrEqual(1);
    expect(revoked.json.summary).toBe(`revoked ${revoked.json.count} session${revoked.json.count === 1 ? '' : 's'} of alice@example.com`);
    expect(await appStatus(aliceCookie)).toBe(401);
    expect(await appStatus(bobCookie)).toBe(200);
    const line = adminLogLines().find((l) => l.action === 'revoke_user' && l.user === 'alice@example.com');
    expect(line).toMatchObject({ who: 'token', count: revoked.json.count });
  });

  it('revokes one session by id, and answers 404 for a session that is gone', async () => {
    const first = await signIn(bob);
    const second = await signIn(bob);
    const id = decodeURIComponent(first.split('=')[1]!).split('.')[0]!;
    const res = await ops('DELETE', `/admin/sessions/${id}`, { token: ADMIN_TOKEN });
    expect(res.status).toBe(200);
    expect(res.json.summary).toBe(`revoked session ${id}`);
    expect(await appStatus(first)).toBe(401);
    expect(await appStatus(second)).toBe(200);
    expect((await ops('DELETE', `/admin/sessions/${id}`, { token: ADMIN_TOKEN })).status).toBe(404);
  });

  it('revokes every session only with confirm=all', async () => {
    const cookie = await signIn(bob);
    const unconfirmed = await ops('DELETE', '/admin/sessions', { token: ADMIN_TOKEN });
    expect(unconfirmed.status).toBe(400);
    expect(await appStatus(cookie)).toBe(200);
    const all = await ops('DELETE', '/admin/sessions?confirm=all', { token: ADMIN_TOKEN });
    expect(all.status).toBe(200);
    expect(all.json.count).toBeGreaterThanOrEqual(1);
    expect(await appStatus(cookie)).toBe(401);
  });

  it('accepts a client certificate from ops.tls.client_ca, refuses one from another CA, and logs the certificate subject', async () => {
    const good = await ops('GET', '/admin/sessions?user=bob@example.com', { agent: goodCert });
    expect(good.status).toBe(200);
    const foreign = await ops('GET', '/admin/sessions?user=bob@example.com', { agent: foreignCert });
    expect(foreign.status).toBe(403);
    expect(adminLogLines().find((l) => l.action === 'list' && l.user === 'bob@example.com')?.who).toContain('CN=ops-oncall');
  });

  it('keeps the probes reachable without a client certificate', async () => {
    expect((await ops('GET', '/healthz')).status).toBe(200);
    expect((await ops('GET', '/readyz')).status).toBe(200);
    expect((await ops('GET', '/metrics')).status).toBe(200);
  });

  it('is not served on the public listener, whatever the credentials', async () => {
    const cookie = await signIn(bob);
    for (const method of ['GET', 'DELETE']) {
      const res = await request(`http://127.0.0.1:${port}/admin/sessions?user=bob@example.com&confirm=all`, {
        method: method as 'GET',
        dispatcher: loopbackAgent,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, accept: 'application/json' },
      });
      await res.body.dump();
      expect(res.statusCode).toBe(404);
    }
    expect(await appStatus(cookie)).toBe(200);
  });
});

describe('without an admin token or client CA', () => {
  it('keeps the admin API off, with a 404 that says how to turn it on', async () => {
    const plain = await startProxy(`${baseConfig}routes:
  - { name: site, from: http://site.test, to: http://127.0.0.1:9, public: true }
`);
    try {
      const res = await fetch(`${plain.opsUrl}/admin/sessions?user=alice`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      expect(res.status).toBe(404);
      const body = (await res.json()) as { error: string; message: string };
      expect(body.error).toBe('admin_api_disabled');
      expect(body.message).toContain('ops.admin_token');
    } finally {
      await plain.stop();
    }
  });
});
