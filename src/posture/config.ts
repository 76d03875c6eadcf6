// The device_posture section of portcullis.yaml. The schema is built by a function
// that receives the shared `duration` type from config/schema.ts, because schema.ts
// imports this file: importing `duration` here at run time would be an import cycle.
//
// Plug in (config/schema.ts):  device_posture: devicePostureSchema(duration).optional(),
import { z } from 'zod';
import type { duration as Duration } from '../config/schema.ts';

/**
 * Every asymmetric JWS algorithm jose verifies. HMAC ("HS256"...) and "none" are not
 * in the list and cannot be configured: with HMAC, anyone who knows the verification
 * key (here: a public key) could mint posture for any device.
 */
export const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;
export type PostureAlgorithm = (typeof ASYMMETRIC_ALGORITHMS)[number];

/** Claims a trusted edge may send as plain headers. */
export const HEADER_CLAIMS = ['device_id', 'managed', 'os', 'os_version', 'disk_encrypted', 'firewall', 'screen_lock', 'edr_running', 'compliant', 'risk'] as const;
export type HeaderClaim = (typeof HEADER_CLAIMS)[number];

const HEADER_NAME = /^[A-Za-z0-9-]{1,64}$/;
const headerName = z.string().regex(HEADER_NAME, 'a header name is 1-64 letters, digits and "-", such as X-Device-Posture');

const algorithm = z.string().transform((alg, ctx): PostureAlgorithm => {
  if ((ASYMMETRIC_ALGORITHMS as readonly string[]).includes(alg)) return alg as PostureAlgorithm;
  const why = /^HS\d+$/i.test(alg)
    ? `${alg} is a shared-secret (HMAC) algorithm; device posture must be signed with a private key that only the device-trust service holds`
    : alg.toLowerCase() === 'none'
      ? '"none" means unsigned; unsigned posture can be forged by anyone'
      : `"${alg}" is not a supported signature algorithm`;
  ctx.addIssue({ code: 'custom', message: `${why}. Use one or more of: ${ASYMMETRIC_ALGORITHMS.join(', ')}` });
  return z.NEVER;
});

const trustedHeaders = z.strictObject(Object.fromEntries(HEADER_CLAIMS.map((c) => [c, headerName.optional()])) as Record<HeaderClaim, z.ZodOptional<typeof headerName>>);


export function devicePostureSchema(duration: typeof Duration) {
  return z
    .strictObject({
      header: headerName.default('X-Device-Posture').describe('request header that carries the posture JWT'),
      jwks_url: z.url({ protocol: /^https?$/, error: 'jwks_url must be an https URL such as https://mdm.example.com/.well-known/jwks.json' }).optional(),
      keys: z.array(z.string().min(1, 'expected a file path')).min(1, 'list at least one key file, or remove "keys"').optional().describe('PEM public keys (SPKI) or JWK/JWKS JSON files'),
      issuer: z.string().min(1).optional().describe('expected "iss" of posture tokens'),
      audience: z.string().min(1).optional().describe('expected "aud" of posture tokens'),
      max_age: duration.default(600_000).refine((ms) => ms > 0, 'max_age must be longer than 0').describe('posture issued (iat) longer ago than this is no posture'),
      algorithms: z.array(algorithm).min(1, 'list at least one algorithm, or remove "algorithms" to accept every asymmetric one').default([...ASYMMETRIC_ALGORITHMS]),
      jwks_timeout: duration.default(2_000).refine((ms) => ms > 0, 'jwks_timeout must be longer than 0'),
      jwks_cooldown: duration.default(30_000).describe('after fetching the JWKS, how long a token with an unknown kid waits before the JWKS is fetched again'),
      insecure_allow_http: z.boolean().default(false).describe('allow an http:// jwks_url; for tests and the demo only'),
      trusted_headers: trustedHeaders.optional().describe('posture from plain headers, honoured only from trusted_proxies'),
      session_binding: z.boolean().default(true).describe('refuse a session presented with valid posture from a device other than the one it is bound to'),
    })
    .superRefine((c, ctx) => {
      const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
      const signed = c.jwks_url !== undefined || c.keys !== undefined;
      if (c.jwks_url !== undefined && c.keys !== undefined) issue('keys', 'give either jwks_url or keys, not both');
      if (!signed && !c.trusted_headers) {
        ctx.addIssue({ code: 'custom', path: [], message: 'say where posture comes from: jwks_url or keys (signed posture tokens), or trusted_headers (set by a trusted edge)' });
      }
      if (signed && c.issuer === undefined) issue('issuer', 'issuer is required with jwks_url or keys: the "iss" your device-trust service puts in posture tokens');
      if (signed && c.audience === undefined) issue('audience', 'audience is required with jwks_url or keys: the "aud" your device-trust service puts in posture tokens for Portcullis');
      if (c.jwks_url?.startsWith('http:') && !c.insecure_allow_http) {
        issue('jwks_url', 'jwks_url must use https: over plain http anyone on the path can swap the keys. For local testing only, set insecure_allow_http: true');
      }
      if (c.trusted_headers) {
        const names = Object.values(c.trusted_headers).filter((n): n is string => n !== undefined).map((n) => n.toLowerCase());
        if (names.length === 0) issue('trusted_headers', 'map at least one claim to a header, such as managed: X-Device-Managed');
        if (new Set(names).size !== names.length) issue('trusted_headers', 'each claim needs its own header');
        if (names.includes(c.header.toLowerCase())) issue('trusted_headers', `${c.header} already carries the posture token`);
      }
    });
}

export type DevicePostureConfig = z.output<ReturnType<typeof devicePostureSchema>>;
