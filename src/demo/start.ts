// `portcullis demo` and `npm start` with no configuration: the demo identity
// provider, the demo app and Portcullis in front of it, from config/demo.yaml.
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { startDemoApp } from './app.ts';
import { startDemoIdp, defaultDemoUsers, DEMO_OTP } from './idp.ts';
import { startPortcullis, type Portcullis } from '../server.ts';

export const demoConfigFile = fileURLToPath(new URL('../../config/demo.yaml', import.meta.url));

export interface Demo {
  readonly portcullis: Portcullis;
  readonly idpIssuer: string;
  readonly appUrl: string;
  stop(): Promise<void>;
}

export interface DemoOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** print the banner (default true) */
  readonly banner?: boolean;
  readonly logDestination?: number | string;
}

export async function startDemo(options: DemoOptions = {}): Promise<Demo> {
  const env = options.env ?? process.env;
  const port = Number(env.PORTCULLIS_PORT ?? 8080);
  const publicUrl = `http://localhost:${port}`;
  const clientSecret = randomBytes(24).toString('base64url');
  const idp = await startDemoIdp({
    port: Number(env.DEMO_IDP_PORT ?? 8092),
    clients: [
      {
        client_id: 'portcullis-demo',
        client_name: 'Portcullis demo',
        client_secret: clientSecret,
        redirect_uris: [`${publicUrl}/.portcullis/callback`],
        post_logout_redirect_uris: [`${publicUrl}/.portcullis/signed-out`],
        backchannel_logout_uri: `${publicUrl}/.portcullis/backchannel-logout`,
      },
    ],
  });
  const app = await startDemoApp({
    port: Number(env.DEMO_APP_PORT ?? 8091),
    // The app checks the assertion against Portcullis's JWKS, as a real upstream would.
    jwksUrl: `http://127.0.0.1:${port}/.well-known/portcullis/jwks.json`,
    jwksHost: `localhost:${port}`,
    issuer: publicUrl,
  });
  let portcullis: Portcullis;
  try {
    portcullis = await startPortcullis({
      configFile: demoConfigFile,
      logDestination: options.logDestination,
      env: {
        ...env,
        PORTCULLIS_PORT: String(port),
        DEMO_APP_PORT: String(app.port),
        DEMO_IDP_ISSUER: idp.issuer,
        DEMO_CLIENT_SECRET: clientSecret,
        DEMO_COOKIE_SECRET: randomBytes(32).toString('base64url'),
      },
    });
  } catch (err) {
    await app.close();
    await idp.close();
    throw err;
  }
  if (options.banner !== false) {
    const users = defaultDemoUsers.map((u) => `      ${u.id.padEnd(8)} password ${u.password.padEnd(14)} groups ${u.groups.join(', ')}${u.otp ? `  (MFA code ${DEMO_OTP})` : ''}`).join('\n');
    process.stdout.write(`
  Portcullis demo is running (for evaluation only).

    Open      http://localhost:${port}/              the demo app: staff of example.com (alice, bob);
                                                     carol and mallory see why they are refused
              http://admin.localhost:${port}/        the "admin console": admins only, with MFA
                                                     (alice is asked for her one-time code)
              http://public.localhost:${port}/       the same app on a public route
    Sign in   with one of the demo users:
${users}
    You       http://localhost:${port}/.portcullis/userinfo
    Ops       http://127.0.0.1:${portcullis.addresses.ops.port}/metrics   /healthz   /readyz
    Config    ${demoConfigFile}

  Stop with Ctrl+C.

`);
  }
  return {
    portcullis,
    idpIssuer: idp.issuer,
    appUrl: app.url,
    stop: async () => {
      await app.close();
      await idp.close();
    },
  };
}
