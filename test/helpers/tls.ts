// Throwaway self-signed certificates for TLS tests, made by openssl in a temp dir
// when a test runs. Keys are never committed.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './servers.ts';

export interface TestCert {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: string;
  readonly key: string;
}

/**
 * A self-signed P-256 certificate for `cn`, valid one day, that is also its own CA
 * (so a client can trust exactly this certificate). SANs cover the name and 127.0.0.1.
 */
export function selfSignedCert(cn = 'app.test', dir = tempDir('portcullis-tls-')): TestCert {
  const certFile = join(dir, `${cn}.crt`);
  const keyFile = join(dir, `${cn}.key`);
  execFileSync(
    'openssl',
    [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
      '-subj', `/CN=${cn}`, '-days', '1',
      '-addext', `subjectAltName=DNS:${cn},DNS:*.${cn},IP:127.0.0.1`,
      '-keyout', keyFile, '-out', certFile,
    ],
    { stdio: 'ignore' },
  );
  return { certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
}
