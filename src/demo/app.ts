// The demo "legacy app": shows who Portcullis says you are, every header it
// received, and whether the signed assertion verifies against Portcullis's JWKS,
// exactly as a real upstream should check it.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLocalJWKSet, jwtVerify, type JWK, type JWTPayload } from 'jose';
import { request } from 'undici';
import { html, renderPage } from '../pages/html.ts';
import { pageSecurityHeaders } from '../pages/style.ts';

export interface DemoAppOptions {
  readonly port?: number;
  readonly host?: string;
  /** where to fetch Portcullis's JWKS, and the Host header to send with it */
  readonly jwksUrl?: string;
  readonly jwksHost?: string;
  /** the assertion's expected issuer: Portcullis's public_url origin */
  readonly issuer?: string;
}

export interface DemoApp {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

type Verification = { ok: true; payload: JWTPayload } | { ok: false; reason: string };

export async function startDemoApp(options: DemoAppOptions = {}): Promise<DemoApp> {
  const host = options.host ?? '127.0.0.1';
  let keys: { keys: JWK[] } | undefined;
  let keysFetchedAt = 0;

  async function verify(token: string | undefined, audience: string): Promise<Verification> {
    if (!token) return { ok: false, reason: 'no assertion was sent (this is a public route)' };
    if (!options.jwksUrl) return { ok: false, reason: 'the app was started without a JWKS URL' };
    try {
      if (!keys || Date.now() - keysFetchedAt > 60_000) {
        const res = await request(options.jwksUrl, { headers: options.jwksHost ? { host: options.jwksHost } : {} });
        keys = (await res.body.json()) as { keys: JWK[] };
        keysFetchedAt = Date.now();
      }
      const { payload } = await jwtVerify(token, createLocalJWKSet(keys), { issuer: options.issuer, audience });
      return { ok: true, payload };
    } catch (err) {
      return { ok: false, reason: (err as Error).message };
    }
  }

  const server = http.createServer((req, res) => {
    void (async () => {
      const audience = `http://${String(req.headers['x-forwarded-host'] ?? req.headers.host ?? '').replace(/:\d+$/, '')}`;
      const check = await verify(req.headers['x-portcullis-jwt-assertion'] as string | undefined, audience);
      if (req.url === '/api/whoami') {
        const body = JSON.stringify({ user: req.headers['x-forwarded-user'] ?? null, email: req.headers['x-forwarded-email'] ?? null, groups: req.headers['x-forwarded-groups'] ?? null, assertion: check.ok ? 'verified' : check.reason });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(body);
        return;
      }
      const user = req.headers['x-forwarded-user'];
      const email = req.headers['x-forwarded-email'];
      const rows = Object.entries(req.headers)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => html`<tr><th class="mono">${k}</th><td class="mono">${k === 'x-portcullis-jwt-assertion' ? `${String(v).slice(0, 40)}…` : String(v)}</td></tr>`);
      const page = renderPage({
        title: 'Demo app',
        wide: true,
        body: html`<span class="status ${user ? 'good' : 'warn'}">${user ? 'Signed in through Portcullis' : 'Anonymous: public route'}</span>
<h1>${user ? `Hello, ${String(email ?? user)}` : 'Hello from the demo app'}</h1>
<p>This page stands in for a legacy application behind Portcullis. It shows exactly what Portcullis forwarded: the path and every header.</p>
<table>
<tr><th>User</th><td>${String(user ?? '—')}</td></tr>
<tr><th>Email</th><td>${String(email ?? '—')}</td></tr>
<tr><th>Groups</th><td>${String(req.headers['x-forwarded-groups'] ?? '—')}</td></tr>
<tr><th>Signed assertion</th><td>${check.ok ? html`<span class="ok">verified</span> against Portcullis's JWKS (expires ${new Date((check.payload.exp ?? 0) * 1000).toISOString()})` : html`<span class="fail">not verified</span>: ${check.reason}`}</td></tr>
<tr><th>Method and path</th><td class="mono">${req.method} ${req.url}</td></tr>
</table>
<h2>Headers received</h2>
<table>${rows}</table>
${user ? html`<div class="actions"><a class="button secondary" href="/.portcullis/userinfo">Your session</a><a class="button secondary" href="/.portcullis/logout">Sign out</a></div>` : ''}`,
      });
      res.writeHead(200, { ...pageSecurityHeaders, 'content-type': 'text/html; charset=utf-8' });
      res.end(page);
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, resolve);
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
