// A full sign-in environment on loopback: the demo identity provider, an echo
// upstream and Portcullis in front of it with public_url on 127.0.0.1:PORT.
import { randomBytes } from 'node:crypto';
import { startDemoIdp, type DemoIdp, type DemoIdpOptions } from '../../src/demo/idp.ts';
import { freePort, freePorts, startProxy, startUpstream, type Running, type Upstream } from './servers.ts';
import { Browser } from './browser.ts';

export { freePort, freePorts };

export interface LoginEnv {
  readonly idp: DemoIdp;
  readonly upstream: Upstream;
  readonly proxy: Running;
  readonly port: number;
  /** http://127.0.0.1:PORT */
  readonly publicUrl: string;
  readonly clientSecret: string;
  /** http://app.test:PORT, a protected route */
  appUrl(path?: string): string;
  browser(): Browser;
  stop(): Promise<void>;
}

export interface LoginEnvOptions {
  /** YAML for the routes: list; ${UPSTREAM} is replaced by the upstream URL */
  routes?: string;
  /** extra top-level YAML (session:, cookie: ..., must not repeat identity_provider) */
  extra?: string;
  /** extra keys for identity_provider */
  idpExtra?: string;
  idp?: Partial<DemoIdpOptions>;
}

export const defaultRoutes = `
  - name: app
    from: http://app.test
    policy: { allow: [ { authenticated: true } ] }
    to: \${UPSTREAM}
    headers: { X-Remote-User: "{email}" }
  - name: public
    from: http://public.test
    to: \${UPSTREAM}
    public: true`;

export async function startLoginEnv(options: LoginEnvOptions = {}): Promise<LoginEnv> {
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const clientSecret = randomBytes(16).toString('hex');
  const idp = await startDemoIdp({
    clients: [
      {
        client_id: 'portcullis',
        client_secret: clientSecret,
        redirect_uris: [`${publicUrl}/.portcullis/callback`],
        post_logout_redirect_uris: [`${publicUrl}/.portcullis/signed-out`],
        backchannel_logout_uri: `${publicUrl}/.portcullis/backchannel-logout`,
      },
    ],
    log: { warn: () => {}, error: () => {} },
    ...options.idp,
  });
  const upstream = await startUpstream();
  const routes = (options.routes ?? defaultRoutes).replaceAll('${UPSTREAM}', upstream.url);
  const proxy = await startProxy(`listen: { address: "127.0.0.1:${port}" }
ops: { address: "127.0.0.1:0" }
public_url: ${publicUrl}
identity_provider:
  issuer: ${idp.issuer}
  client_id: portcullis
  client_secret: ${clientSecret}
  insecure_allow_http: true
${options.idpExtra ?? ''}
cookie:
  secret: ${randomBytes(32).toString('base64url')}
  insecure_allow_http: true
${options.extra ?? ''}
routes:${routes}
`);
  // Discovery runs in the background; wait until the proxy says it is ready.
  for (let i = 0; i < 100; i++) {
    const r = await fetch(`${proxy.opsUrl}/readyz`);
    if (r.status === 200) break;
    await new Promise((res) => setTimeout(res, 50));
  }
  return {
    idp,
    upstream,
    proxy,
    port,
    publicUrl,
    clientSecret,
    appUrl: (path = '/') => `http://app.test:${port}${path}`,
    browser: () => new Browser(idp.issuer),
    stop: async () => {
      await proxy.stop();
      await upstream.close();
      await idp.close();
    },
  };
}

export const alice = { username: 'alice', password: 'alice-demo' };
export const bob = { username: 'bob', password: 'bob-demo' };
