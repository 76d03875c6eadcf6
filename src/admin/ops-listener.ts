// The operations listener's server: plain HTTP, or HTTPS with ops.tls. With
// ops.tls.client_ca it asks for a client certificate but does not insist on
// one, so probes without a certificate still reach /healthz, /readyz and
// /metrics; only the admin API looks at whether the certificate verified.
import http from 'node:http';
import https from 'node:https';
import type { CompiledOps } from './config.ts';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export function createOpsServer(ops: CompiledOps, handler: Handler): http.Server {
  if (!ops.tls) return http.createServer(handler);
  const { cert, key, clientCa } = ops.tls;
  return https.createServer(
    {
      cert,
      key,
      minVersion: 'TLSv1.2',
      ...(clientCa ? { ca: clientCa, requestCert: true, rejectUnauthorized: false } : {}),
    },
    handler,
  );
}
