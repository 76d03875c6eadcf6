// Replacing a device-posture key file and reloading (SIGHUP, or the YAML watcher) takes the
// new key even though the YAML did not change: a key taken out of the file is no longer
// trusted after the reload.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportSPKI } from 'jose';
import { createPostureIssuer, type IssuerKey, type PostureIssuer } from '../helpers/posture.ts';
import { baseConfig, startProxy, startUpstream, tempDir, type Running, type Upstream } from '../helpers/servers.ts';

let issuer: PostureIssuer;
let oldKey: IssuerKey;
let newKey: IssuerKey;
let upstream: Upstream;
let proxy: Running;
const keyFile = join(tempDir('posture-rotation-'), 'device-trust.pub.pem');
const alice = { sub: 'alice', email: 'alice@example.com' };

const writeKey = async (k: IssuerKey) => writeFileSync(keyFile, await exportSPKI(k.publicKey));

beforeAll(async () => {
  issuer = await createPostureIssuer();
  oldKey = issuer.keys.find((k) => k.alg === 'ES256')!;
  newKey = await issuer.addKey('ES256', { kid: 'rotated' });
  await writeKey(oldKey);
  upstream = await startUpstream();
  proxy = await startProxy(`${baseConfig}device_posture:
  keys: [${JSON.stringify(keyFile)}]
  issuer: ${issuer.issuer}
  audience: ${issuer.audience}
routes:
  - { name: app, from: "http://app.test", to: "${upstream.url}", public: true }
`);
});
afterAll(async () => {
  await proxy?.stop();
  await upstream?.close();
  await issuer?.close();
});

async function verdict(k: IssuerKey) {
  // PEM keys have no kid of their own: tokens without one are checked against every key.
  const token = await issuer.sign({ device_id: `dev-${k.kid}`, managed: true }, { kid: k.kid, headerKid: null });
  return proxy.portcullis.config().posture!.verify({ 'x-device-posture': token }, alice, false, Date.now());
}

describe('rotating a device-posture key', () => {
  it('a reload with the same YAML trusts the key now in the file, and no longer the one taken out', async () => {
    expect(await verdict(oldKey)).toMatchObject({ ok: true });
    const before = proxy.portcullis.config();
    await writeKey(newKey);
    const result = await proxy.portcullis.reload();
    expect(result.ok).toBe(true);
    expect(proxy.portcullis.config()).not.toBe(before);
    expect(await verdict(newKey)).toMatchObject({ ok: true });
    expect(await verdict(oldKey)).toMatchObject({ ok: false });
  });
});
