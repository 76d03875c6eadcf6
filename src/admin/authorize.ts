// Pure: may this request use the admin API? Who is it, for the log?
// A decision with a reason, never an exception; the handler turns it into a response.
import { createHash, timingSafeEqual } from 'node:crypto';
import { adminEnabled, type CompiledOps } from './config.ts';

/** What the request carries that could prove it is an administrator. */
export interface AdminCredentials {
  /** the Authorization header, as sent */
  readonly authorization: string | undefined;
  /** the client certificate on a TLS ops listener; undefined when none was presented */
  readonly certificate: { readonly authorized: boolean; readonly subject: string } | undefined;
}

export type AdminAccess =
  | { readonly allowed: true; readonly who: string }
  | { readonly allowed: false; readonly status: 401 | 403 | 404; readonly error: string; readonly message: string };

export function authorizeAdmin(ops: CompiledOps, credentials: AdminCredentials): AdminAccess {
  if (!adminEnabled(ops)) {
    return {
      allowed: false,
      status: 404,
      error: 'admin_api_disabled',
      message: 'The admin API is off. Set ops.admin_token (at least 32 characters, from ${ENV}) or ops.tls.client_ca to turn it on.',
    };
  }
  const cert = credentials.certificate;
  // A certificate only counts when client certificates are configured; the
  // TLS layer already checked it against ops.tls.client_ca.
  if (cert?.authorized && ops.tls?.clientCa) return { allowed: true, who: cert.subject || 'client certificate' };

  const bearer = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(credentials.authorization ?? '')?.[1];
  if (bearer !== undefined) {
    if (ops.adminToken !== undefined && sameSecret(bearer, ops.adminToken)) return { allowed: true, who: 'token' };
    return { allowed: false, status: 403, error: 'admin_forbidden', message: 'The bearer token is not the admin token (ops.admin_token).' };
  }
  if (cert) {
    return { allowed: false, status: 403, error: 'admin_forbidden', message: 'The client certificate was not issued by the CA in ops.tls.client_ca.' };
  }
  return {
    allowed: false,
    status: 401,
    error: 'admin_unauthenticated',
    message: ops.adminToken !== undefined ? 'Send Authorization: Bearer <ops.admin_token>.' : 'Present a client certificate issued by the CA in ops.tls.client_ca.',
  };
}

/** Constant-time whatever the lengths: compare digests, not the strings themselves. */
function sameSecret(given: string, expected: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(given), digest(expected));
}
