// A renewed certificate is picked up by a reload even though the YAML did not change.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import { startProxy, startUpstream, tempDir, type Running, type Upstream } from '../helpers/servers.ts';
import { selfSignedCert } from '../helpers/tls.ts';

let proxy: Running;
let upstream: Upstream;
const dir = tempDir('portcullis-renew-');
const certFile = join(dir, 'tls.crt');
const keyFile = join(dir, 'tls.key');

function servedCommonName(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'app.test', rejectUnauthorized: false }, () => {
      const cn = socket.getPeerCertificate().subject?.CN;
      socket.destroy();
      resolve(String(cn));
    });
    socket.on('error', reject);
  });
}

beforeAll(async () => {
  const first = selfSignedCert('first.app.test');
  copyFileSync(first.certFile, certFile);
  copyFileSync(first.keyFile, keyFile);
  upstream = await startUpstream();
  proxy = await startProxy(`listen: { address: "127.0.0.1:0", tls: { cert: ${certFile}, key: ${keyFile} } }
ops: { address: "127.0.0.1:0" }
public_url: https://access.test
routes:
  - { name: app, from: https://app.test, to: ${upstream.url}, public: true }
`);
});
afterAll(async () => {
  await proxy?.stop();
  await upstream?.close();
});

describe('certificate renewal', () => {
  it('serves the renewed certificate after a reload with the same YAML', async () => {
    expect(await servedCommonName(proxy.port)).toBe('first.app.test');
    const renewed = selfSignedCert('renewed.app.test');
    copyFileSync(renewed.certFile, certFile);
    copyFileSync(renewed.keyFile, keyFile);
    const result = await proxy.portcullis.reload();
    expect(result.ok).toBe(true);
    expect(await servedCommonName(proxy.port)).toBe('renewed.app.test');
  });
});
