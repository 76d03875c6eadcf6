// Sign-in steps taken one at a time, for tests that attack or inspect the flow between
// them, and a login environment with a configurable public host and provider port.
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { parse } from 'yaml';
import { request } from 'undici';
import { Sealer } from '../../src/auth/sealed.ts';
import { startDemoIdp, type DemoIdp, type DemoIdpOptions } from '../../src/demo/idp.ts';
import { Browser, loopbackAgent } from './browser.ts';
import { CookieJar, loginWithForm } from './idp.ts';
import { defaultRoutes, freePorts } from './login-env.ts';
import { startProxy, startUpstream, type Running, type Upstream } from './servers.ts';

/** The sealer Portcullis uses, rebuilt from the cookie secret in its config file. */
export function sealerOf(proxy: Running): Sealer {
  const config = parse(readFileSync(proxy.configFile, 'utf8')) as { cookie: { secret: string } };
  return new Sealer(config.cookie.secret);
}

export interface PendingLogin {
  /** the provider's redirect back to Portcullis: /.portcullis/callback?code=...&state=...&iss=... */
  readonly callback: URL;
  /** the login-state cookie Portcullis set for this attempt */
  readonly loginCookie: { readonly name: string; readonly value: string };
}

/**
 * Open a protected URL without a session, sign in at the provider, and stop just before
 * the callback: the browser holds the login-state cookie and the callback is not yet used.
 */
export async function loginUpToCallback(browser: Browser, url: string, user: { username: string; password: string }, idpJar = new CookieJar()): Promise<PendingLogin> {
  const before = new Set(browser.jar.cookies.map((c) => c.name));
  const atIdp = await browser.open(url);
  if (atIdp.status !== 0) throw new Error(`expected a redirect to the identity provider, got HTTP ${atIdp.status} at ${atIdp.url}`);
  const cookie = browser.jar.cookies.find((c) => c.name.startsWith('portcullis-login-') && c.name !== 'portcullis-login-bind' && !before.has(c.name));
  if (!cookie) throw new Error('Portcullis set no login-state cookie');
  const callback = await loginWithForm(atIdp.url, { ...user, cookieJar: idpJar });
  return { callback, loginCookie: { name: cookie.name, value: cookie.value } };
}

/** Every Set-Cookie line of a response, as an array. */
export function setCookies(headers: Record<string, string | string[] | undefined>): string[] {
  const v = headers['set-cookie'];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/** The Set-Cookie line that gives the session cookie a value (not one that clears it), if any. */
export function sessionCookieLine(headers: Record<string, string | string[] | undefined>, name = 'portcullis'): string | undefined {
  return setCookies(headers).find((line) => line.startsWith(`${name}=`) && !line.startsWith(`${name}=;`));
}

export function cookieValue(line: string): string {
  return line.slice(line.indexOf('=') + 1).split(';')[0]!;
}

/** One request through loopback with explicit headers and no cookie jar; the body is read. */
export async function send(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
  const res = await request(url, { dispatcher: loopbackAgent, method: (init.method ?? 'GET') as 'GET', headers: init.headers, body: init.body });
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
}

export interface CustomEnvOptions {
  /** the host in public_url; default 127.0.0.1 */
  publicHost?: string;
  /** YAML for the routes: list; ${UPSTREAM} is replaced by the upstream URL; default app.test and public.test */
  routes?: string;
  /** extra lines inside cookie: (two-space indented), such as "  domain: example.test" */
  cookie?: string;
  /** extra lines inside identity_provider: */
  idpExtra?: string;
  /** start the provider only when the test calls startIdp() (Portcullis starts first) */
  deferIdp?: boolean;
  idp?: Partial<DemoIdpOptions>;
}

export interface CustomEnv {
  readonly port: number;
  readonly publicUrl: string;
  readonly upstream: Upstream;
  readonly proxy: Running;
  /** the provider, once started */
  idp(): DemoIdp;
  /** start the provider on the port Portcullis already expects */
  startIdp(): Promise<DemoIdp>;
  url(host: string, path?: string): string;
  browser(): Browser;
  stop(): Promise<void>;
}

/** Like startLoginEnv, but the public host, the cookie settings and when the provider starts are up to the test. */
export async function startCustomEnv(o: CustomEnvOptions): Promise<CustomEnv> {
  const [port, idpPort] = (await freePorts(2)) as [number, number];
  const publicUrl = `http://${o.publicHost ?? '127.0.0.1'}:${port}`;
  const clientSecret = randomBytes(16).toString('hex');
  let idp: DemoIdp | undefined;
  const startIdp = async () => {
    idp = await startDemoIdp({
      port: idpPort,
      clients: [
        {
          client_id: 'portcullis',
          client_secret: clientSecret,
          redirect_uris: [`${publicUrl}/.portcullis/callback`],
          post_logout_redirect_uris: [`${publicUrl}/.portcullis/signed-out`],
          backchannel_logout_uri: `${publicUrl}/.portcullis/backchannel-logout`,
          // Without it oidc-provider puts no sid in ID and logout tokens.
          backchannel_logout_session_required: true,
        },
      ],
      log: { warn: () => {}, error: () => {} },
      ...o.idp,
    });
    return idp;
  };
  if (!o.deferIdp) await startIdp();
  const upstream = await startUpstream();
  const proxy = await startProxy(`listen: { address: "127.0.0.1:${port}" }
ops: { address: "127.0.0.1:0" }
public_url: ${publicUrl}
identity_provider:
  issuer: http://127.0.0.1:${idpPort}
  client_id: portcullis
  client_secret: ${clientSecret}
  insecure_allow_http: true
${o.idpExtra ?? ''}
cookie:
  secret: ${randomBytes(32).toString('base64url')}
  insecure_allow_http: true
${o.cookie ?? ''}
routes:${(o.routes ?? defaultRoutes).replaceAll('${UPSTREAM}', upstream.url)}
`);
  if (!o.deferIdp) await waitUntilReady(proxy);
  return {
    port,
    publicUrl,
    upstream,
    proxy,
    idp: () => {
      if (!idp) throw new Error('the identity provider has not been started');
      return idp;
    },
    startIdp,
    url: (host, path = '/') => `http://${host}:${port}${path}`,
    browser: () => new Browser(`http://127.0.0.1:${idpPort}`),
    stop: async () => {
      await proxy.stop();
      await upstream.close();
      await idp?.close();
    },
  };
}

/** Poll /readyz until Portcullis says ready; the answer of the last poll otherwise. */
export async function waitUntilReady(proxy: Running, timeoutMs = 8000): Promise<{ status: number; body: unknown }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await fetch(`${proxy.opsUrl}/readyz`);
    const body: unknown = await r.json();
    if (r.status === 200 || Date.now() > deadline) return { status: r.status, body };
    await new Promise((res) => setTimeout(res, 50));
  }
}
