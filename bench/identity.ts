// Sign-in for the protected rows: the real demo identity provider (in the bench's own
// process, idle while wrk runs), one OIDC client per Portcullis port, and a real login
// through Portcullis and the provider's form, as the integration tests do it. What comes
// back is the Cookie header wrk then sends with every request.
import { randomBytes } from 'node:crypto';
import { startDemoIdp, type DemoIdp } from '../src/demo/idp.ts';
import { Browser } from '../test/helpers/browser.ts';
import { freePort } from './ports.ts';

export interface BenchIdentity {
  readonly issuer: string;
  readonly clientSecret: string;
  /** a port registered at the provider (redirect URI http://127.0.0.1:PORT/.portcullis/callback); one per Portcullis */
  takePort(): number;
  /** the Portcullis on that port has stopped: the next one may take it */
  releasePort(port: number): void;
  close(): Promise<void>;
}

export const BENCH_USER = { username: 'alice', password: 'alice-demo' } as const;

/** Starts the provider with `ports` client registrations, one per Portcullis running at the same time. */
export async function startBenchIdentity(ports: number): Promise<BenchIdentity> {
  const free: number[] = [];
  for (let i = 0; i < ports; i++) free.push(await freePort());
  const clientSecret = randomBytes(16).toString('hex');
  const idp: DemoIdp = await startDemoIdp({
    clients: free.map((port) => ({
      client_id: clientIdFor(port),
      client_secret: clientSecret,
      redirect_uris: [`http://127.0.0.1:${port}/.portcullis/callback`],
      post_logout_redirect_uris: [`http://127.0.0.1:${port}/.portcullis/signed-out`],
    })),
    // Longer than any run: a token refresh in the middle of a measurement would be a different benchmark.
    accessTokenTtl: 4 * 3600,
    idTokenTtl: 4 * 3600,
    log: { warn: () => {}, error: (obj, msg) => console.error(`bench: identity provider: ${msg}`, obj) },
  });
  const left = [...free];
  return {
    issuer: idp.issuer,
    clientSecret,
    takePort() {
      const port = left.shift();
      if (port === undefined) throw new Error('bench: more Portcullis rows than registered identity-provider clients (see startBenchIdentity)');
      return port;
    },
    releasePort(port) {
      if (free.includes(port) && !left.includes(port)) left.push(port);
    },
    close: () => idp.close(),
  };
}

export function clientIdFor(port: number): string {
  return `portcullis-bench-${port}`;
}

/**
 * Signs BENCH_USER in through Portcullis at appUrl (a protected route, such as
 * http://app.bench:PORT/) and returns the Cookie header for that host. The page after
 * sign-in may be a 403 (the full-policy row wants a device posture header); only the
 * session cookie matters here, and the caller's preflight checks that it lets a request through.
 */
export async function signIn(appUrl: string, issuer: string): Promise<string> {
  const browser = new Browser(issuer);
  const page = await browser.signIn(appUrl, BENCH_USER);
  const cookie = browser.jar.header(new URL(appUrl));
  if (!cookie) throw new Error(`bench: signing in at ${appUrl} gave no session cookie (last page: HTTP ${page.status} at ${page.url.pathname})`);
  return cookie;
}
