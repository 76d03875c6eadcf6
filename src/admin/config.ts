// The ops: keys that guard the admin API, compiled once at load: the bearer
// token and the ops listener's TLS material (PEM text, read here so that a
// missing file is a configuration error with its position, not a crash).
import type { RawConfig } from '../config/schema.ts';

export interface CompiledOps {
  /** the admin API's bearer token; undefined: no token accepted */
  readonly adminToken: string | undefined;
  readonly tls:
    | {
        readonly cert: string;
        readonly key: string;
        /** clients with a certificate signed by this CA may use the admin API */
        readonly clientCa: string | undefined;
      }
    | undefined;
}

export function compileOps(ops: RawConfig['ops'], readPem: (path: PropertyKey[], file: string) => string): CompiledOps {
  const tls = ops.tls && {
    cert: readPem(['ops', 'tls', 'cert'], ops.tls.cert),
    key: readPem(['ops', 'tls', 'key'], ops.tls.key),
    clientCa: ops.tls.client_ca ? readPem(['ops', 'tls', 'client_ca'], ops.tls.client_ca) : undefined,
  };
  return Object.freeze({ adminToken: ops.admin_token, tls: tls && Object.freeze(tls) });
}

/** Whether the admin API can be used at all: it needs a token or client certificates. */
export function adminEnabled(ops: CompiledOps): boolean {
  return ops.adminToken !== undefined || ops.tls?.clientCa !== undefined;
}
