// Client authentication with private_key_jwt: Portcullis signs its token request with
// its own key, and the provider checks it against the public key registered for it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportJWK } from 'jose';
import { startDemoIdp, type DemoIdp } from '../../src/demo/idp.ts';
import { startProxy, startUpstream, tempDir, type Running, type Upstream } from '../helpers/servers.ts';
import { freePort, alice } from '../helpers/login-env.ts';
import { Browser } from '../helpers/browser.ts';

let idp: DemoIdp;
let upstream: Upstream;
let proxy: Running;
let port: number;

beforeAll(async () => {
  port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const dir = tempDir();
  const keyFile = join(dir, 'client-key.pem');
  writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const jwk = { ...(await exportJWK(publicKey)), kid: 'portcullis-1', alg: 'ES256', use: 'sig' };
  idp = await startDemoIdp({
    clients: [{ client_id: 'portcullis', token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jwk] }, redirect_uris: [`${publicUrl}/.portcullis/callback`] }],
    log: { warn: () => {}, error: () => {} },
  });
  upstream = await startUpstream();
  proxy = await startProxy(`listen: { address: "127.0.0.1:${port}" }
ops: { address: "127.0.0.1:0" }
public_url: ${publicUrl}
identity_provider:
  issuer: ${idp.issuer}
  client_id: portcullis
  client_auth: private_key_jwt
  private_key: ${keyFile}
  private_key_id: portcullis-1
  insecure_allow_http: true
cookie: { insecure_allow_http: true, secret: ${'s'.repeat(40)} }
routes:
  - name: app
    from: http://app.test
    to: ${upstream.url}
    policy: { allow: [ { authenticated: true } ] }
`);
  for (let i = 0; i < 100 && (await fetch(`${proxy.opsUrl}/readyz`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 50));
});
afterAll(async () => {
  await proxy?.stop();
  await upstream?.close();
  await idp?.close();
});

describe('private_key_jwt client authentication', () => {
  it('signs the user in with a token request authenticated by Portcullis\'s own key', async () => {
    const page = await new Browser(idp.issuer).signIn(`http://app.test:${port}/k`, alice);
    expect(page.status).toBe(200);
    expect((JSON.parse(page.body) as { headers: Record<string, string> }).headers['x-forwarded-user']).toBe('alice');
  });
});
