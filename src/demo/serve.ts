// The demo identity provider and the demo app without Portcullis, for running them
// in their own container next to separately started Portcullis instances
// (deploy/compose.yaml). Evaluation only, like everything in src/demo.
//
//   node src/demo/serve.ts
//
// Settings come from the environment (defaults in brackets):
//   DEMO_HOST              address both listen on [0.0.0.0]
//   DEMO_IDP_PORT          identity provider port [8092]
//   DEMO_IDP_ISSUER        issuer URL; must be exactly what Portcullis and the browser
//                          both use to reach the provider [http://localhost:DEMO_IDP_PORT]
//   DEMO_APP_PORT          demo app port [8091]; 0 or "off" starts no app
//   DEMO_CLIENT_ID         client id Portcullis signs in with [portcullis-demo]
//   DEMO_CLIENT_SECRET     its client secret (required: Portcullis must be given the same)
//   PORTCULLIS_PUBLIC_URLS comma-separated public_url values of the Portcullis instances
//                          allowed to sign in [http://localhost:8080]; each gets the
//                          redirect URI /.portcullis/callback and the post-logout
//                          redirect URI /.portcullis/signed-out
//   DEMO_BACKCHANNEL_LOGOUT_URI  where the provider posts back-channel logout tokens
//                          (must reach Portcullis from the provider's network) [none]
//   DEMO_JWKS_URL          where the app fetches Portcullis's JWKS [none: the app then
//                          shows the assertion as not verified]
//   DEMO_JWKS_HOST         Host header for that fetch (a host Portcullis serves)
import { startDemoApp, type DemoApp } from './app.ts';
import { startDemoIdp, defaultDemoUsers, DEMO_OTP, type DemoClient } from './idp.ts';

export interface DemoServeSettings {
  readonly host: string;
  readonly idpPort: number;
  readonly issuer: string;
  readonly appPort: number | undefined;
  readonly client: DemoClient;
  readonly jwksUrl: string | undefined;
  readonly jwksHost: string | undefined;
  /** the assertion's expected issuer: the first public URL's origin */
  readonly assertionIssuer: string;
}

/** Pure: environment -> settings, or every problem at once, each saying what to set. */
export function demoServeSettings(env: NodeJS.ProcessEnv): { settings: DemoServeSettings } | { problems: string[] } {
  const problems: string[] = [];
  const port = (name: string, fallback: number): number => {
    const text = env[name] ?? String(fallback);
    const n = Number(text);
    if (!Number.isInteger(n) || n < 0 || n > 65535) problems.push(`${name}="${text}" is not a port number (0-65535)`);
    return n;
  };
  const url = (name: string, text: string): URL | undefined => {
    if (URL.canParse(text) && /^https?:$/.test(new URL(text).protocol)) return new URL(text);
    problems.push(`${name}: "${text}" is not an http(s) URL`);
    return undefined;
  };

  const host = env.DEMO_HOST ?? '0.0.0.0';
  const idpPort = port('DEMO_IDP_PORT', 8092);
  const appPort = env.DEMO_APP_PORT === 'off' ? 0 : port('DEMO_APP_PORT', 8091);
  const issuer = (env.DEMO_IDP_ISSUER ?? `http://localhost:${idpPort}`).replace(/\/+$/, '');
  url('DEMO_IDP_ISSUER', issuer);
  const secret = env.DEMO_CLIENT_SECRET ?? '';
  if (secret.length < 16) problems.push('DEMO_CLIENT_SECRET must be set to at least 16 characters (for example: openssl rand -base64 24), and Portcullis must use the same value');
  const publicUrls = (env.PORTCULLIS_PUBLIC_URLS ?? 'http://localhost:8080')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((text) => url('PORTCULLIS_PUBLIC_URLS', text))
    .filter((u): u is URL => u !== undefined);
  if (publicUrls.length === 0) problems.push('PORTCULLIS_PUBLIC_URLS must list at least one Portcullis public_url');
  const backchannel = env.DEMO_BACKCHANNEL_LOGOUT_URI;
  if (backchannel) url('DEMO_BACKCHANNEL_LOGOUT_URI', backchannel);
  if (env.DEMO_JWKS_URL) url('DEMO_JWKS_URL', env.DEMO_JWKS_URL);
  if (problems.length) return { problems };

  const base = (u: URL) => u.href.replace(/\/+$/, '');
  return {
    settings: {
      host,
      idpPort,
      issuer,
      appPort: appPort === 0 ? undefined : appPort,
      client: {
        client_id: env.DEMO_CLIENT_ID ?? 'portcullis-demo',
        client_name: 'Portcullis demo',
        client_secret: secret,
        redirect_uris: publicUrls.map((u) => `${base(u)}/.portcullis/callback`),
        post_logout_redirect_uris: publicUrls.map((u) => `${base(u)}/.portcullis/signed-out`),
        ...(backchannel ? { backchannel_logout_uri: backchannel } : {}),
      },
      jwksUrl: env.DEMO_JWKS_URL || undefined,
      jwksHost: env.DEMO_JWKS_HOST || undefined,
      assertionIssuer: publicUrls[0]!.origin,
    },
  };
}

async function main(): Promise<void> {
  const result = demoServeSettings(process.env);
  if ('problems' in result) {
    process.stderr.write(`demo: cannot start:\n${result.problems.map((p) => `  ${p}`).join('\n')}\n`);
    process.exitCode = 1;
    return;
  }
  const s = result.settings;
  const idp = await startDemoIdp({ host: s.host, port: s.idpPort, issuer: s.issuer, clients: [s.client] });
  let app: DemoApp | undefined;
  if (s.appPort !== undefined) {
    app = await startDemoApp({ host: s.host, port: s.appPort, jwksUrl: s.jwksUrl, jwksHost: s.jwksHost, issuer: s.assertionIssuer });
  }
  const users = defaultDemoUsers.map((u) => `    ${u.id.padEnd(8)} password ${u.password.padEnd(14)} groups ${u.groups.join(', ')}${u.otp ? `  (MFA code ${DEMO_OTP})` : ''}`).join('\n');
  process.stdout.write(
    `demo identity provider (evaluation only): issuer ${idp.issuer}, listening on ${s.host}:${idp.port}\n` +
      (app ? `demo app: listening on ${s.host}:${app.port}\n` : '') +
      `client ${s.client.client_id}: redirect URIs ${s.client.redirect_uris.join(', ')}\n` +
      `users:\n${users}\n`,
  );

  // Containers stop with SIGTERM; close the listeners so the exit is quick and clean.
  const stop = () => {
    void Promise.allSettled([app?.close(), idp.close()]).then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (import.meta.main) await main();
