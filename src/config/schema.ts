// The shape of portcullis.yaml. Every object is strict: an unknown key is an
// error, because a typo must never silently disable a rule.
import { z } from 'zod';
import ipaddr from 'ipaddr.js';
import { sessionConfigSchemas, checkSessionConfig } from '../session/config.ts';
import { networksSchema, policiesSchema, routePolicySchema } from '../policy/schema.ts';
import { devicePostureSchema } from '../posture/config.ts';

export { parseDuration, duration } from './primitives.ts';
import { duration } from './primitives.ts';

export interface ListenAddress {
  host: string;
  port: number;
}

/** "0.0.0.0:8443", "[::1]:8080", ":8080" (all interfaces). */
export function parseListenAddress(text: string): ListenAddress | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]*)):(\d{1,5})$/.exec(text.trim());
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  const host = m[1] ?? m[2] ?? '';
  if (m[1] !== undefined && !ipaddr.IPv6.isValid(m[1])) return undefined;
  return { host: host === '' ? '0.0.0.0' : host, port };
}

const listenAddress = z.string().transform((text, ctx) => {
  const a = parseListenAddress(text);
  if (!a) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a listen address; write HOST:PORT such as "0.0.0.0:8443" or "[::1]:8443"` });
    return z.NEVER;
  }
  return a;
});

const cidr = z.string().transform((text, ctx) => {
  try {
    return text.includes('/') ? ipaddr.parseCIDR(text) : ([ipaddr.parse(text), ipaddr.parse(text).kind() === 'ipv4' ? 32 : 128] as [ipaddr.IPv4 | ipaddr.IPv6, number]);
  } catch {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not an IP address or CIDR range such as 10.0.0.0/8 or fd00::/8` });
    return z.NEVER;
  }
});

const HOST_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

export function isValidHostname(host: string): boolean {
  if (host.length === 0 || host.length > 253) return false;
  return host.split('.').every((label) => HOST_LABEL.test(label));
}

export interface RouteFrom {
  scheme: 'http' | 'https';
  /** lower-case host, "*.example.com" for a wildcard */
  host: string;
  /** "/" or a prefix without trailing slash, such as "/api" */
  pathPrefix: string;
}

const routeFrom = z.string().transform((text, ctx): RouteFrom => {
  // A wildcard is not a valid URL host, so parse it with a placeholder label.
  const wildcard = /^(https?:\/\/)\*\./i.test(text);
  let url: URL;
  try {
    url = new URL(wildcard ? text.replace('*.', 'wildcard-placeholder.') : text);
  } catch {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a URL; write https://host.example.com or https://*.example.com/prefix` });
    return z.NEVER;
  }
  const problems: string[] = [];
  if (url.protocol !== 'http:' && url.protocol !== 'https:') problems.push('the scheme must be http or https');
  if (url.username || url.password) problems.push('it must not contain a user name or password');
  if (url.search || url.hash || text.includes('?') || text.includes('#')) problems.push('it must not contain a query or fragment');
  if (url.port) problems.push('it must not contain a port: routes match on the host name, whatever port the listener uses');
  if (/%|\/\.{1,2}(\/|$)|\/\//.test(url.pathname) || url.pathname.includes('\\')) problems.push('the path prefix must be a plain path without encoded characters, dot segments or "//"');
  const host = (wildcard ? url.hostname.replace('wildcard-placeholder.', '*.') : url.hostname).toLowerCase();
  if (!wildcard && !isValidHostname(host) && !ipaddr.isValid(host.replace(/^\[|\]$/g, ''))) problems.push(`"${host}" is not a valid host name`);
  for (const p of problems) ctx.addIssue({ code: 'custom', message: `"${text}": ${p}` });
  if (problems.length) return z.NEVER;
  const pathPrefix = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, '') : '/';
  return { scheme: url.protocol === 'https:' ? 'https' : 'http', host, pathPrefix };
});

export interface RouteTo {
  origin: string; // scheme://host:port
  basePath: string; // "" or "/base" without trailing slash
  host: string; // host[:port] as the Host header for the upstream
  tls: boolean;
}

const routeTo = z.string().transform((text, ctx): RouteTo => {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a URL; write http://10.0.3.4:8080 or https://app.internal` });
    return z.NEVER;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    ctx.addIssue({ code: 'custom', message: `"${text}": the upstream scheme must be http or https` });
    return z.NEVER;
  }
  if (url.username || url.password || url.search || url.hash) {
    ctx.addIssue({ code: 'custom', message: `"${text}": the upstream URL must not contain credentials, a query or a fragment` });
    return z.NEVER;
  }
  return {
    origin: url.origin,
    basePath: url.pathname === '/' ? '' : url.pathname.replace(/\/+$/, ''),
    host: url.host,
    tls: url.protocol === 'https:',
  };
});

const filePath = z.string().min(1, 'expected a file path');

const upstreamTls = z.strictObject({
  ca: filePath.optional().describe('PEM file with the CA certificate(s) that signed the upstream\'s certificate'),
  cert: filePath.optional().describe('client certificate for mutual TLS'),
  key: filePath.optional().describe('client key for mutual TLS'),
  server_name: z.string().optional().describe('name to verify the upstream certificate against (default: the host in "to")'),
  insecure_skip_verify: z.boolean().default(false).describe('accept any upstream certificate; for testing only'),
});

// Redis counts in whole seconds, so windows are whole seconds too.
const rateWindow = duration.refine((ms) => ms >= 1000 && ms % 1000 === 0, 'a rate limit window is whole seconds, at least 1s, such as "1s", "1m" or "1h"');

export const rateLimitSchema = z
  .strictObject({
    requests: z.number().int().min(1).max(1_000_000_000).describe('requests allowed per window and key'),
    per: rateWindow.describe('the window, such as 1m'),
    burst: z.number().int().min(1).max(1_000_000_000).optional().describe('extra requests allowed once "requests" is used up, counted over burst_per'),
    burst_per: rateWindow.optional().describe('window of the burst allowance (default: 10 x per)'),
  })
  .refine((l) => l.burst_per === undefined || l.burst !== undefined, { path: ['burst_per'], message: 'burst_per needs burst' });

export const routeSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'a route name is 1-63 letters, digits, ".", "_" or "-"'),
  from: routeFrom,
  to: routeTo,
  preserve_host: z.boolean().default(false),
  timeout: duration.default(30_000),
  websockets: z.boolean().default(false),
  public: z.boolean().default(false),
  upstream_tls: upstreamTls.optional(),
  headers: z
    .record(
      z.string().regex(/^[A-Za-z0-9-]+$/, 'a header name is letters, digits and "-"'),
      z.string().max(1024),
    )
    .default({})
    .describe('extra identity headers from claims, e.g. { X-Remote-User: "{email}" }'),
  pass_access_token: z.boolean().default(false).describe('send the access token as Authorization: Bearer'),
  pass_id_token: z.boolean().default(false).describe('send the ID token in X-Portcullis-Id-Token'),
  allow_cors_preflight: z.boolean().default(false).describe('forward CORS preflight requests (OPTIONS with Origin and Access-Control-Request-Method) without sign-in'),
  policy: routePolicySchema.optional().describe('who may use the route: a name under policies: or an inline policy'),
  shadow_policy: routePolicySchema.optional().describe('evaluated and logged ("would deny"), never enforced'),
  rate_limit: rateLimitSchema.optional().describe('requests per window: per signed-in user on protected routes, per client address on public ones'),
});

const geoSettings = z.strictObject({
  country_header: z
    .string()
    .regex(/^[A-Za-z0-9-]+$/, 'a header name is letters, digits and "-"')
    .optional()
    .describe('request header with the ISO country code, set by a trusted proxy (CF-IPCountry, CloudFront-Viewer-Country)'),
  database: filePath
    .optional()
    .describe('MaxMind-format (.mmdb) country database, e.g. GeoLite2-Country.mmdb; looked up on the client address when no trusted country header says otherwise'),
});

const websocketSettings = z.strictObject({
  recheck_interval: duration.default(10_000).describe('how often open WebSockets are checked again against their session and policy'),
});

const identityProvider = z.strictObject({
  issuer: z.url({ protocol: /^https?$/, error: 'issuer must be the identity provider\'s issuer URL, such as https://login.example.com/realms/acme' }),
  client_id: z.string().min(1),
  client_secret: z.string().min(1).optional(),
  client_auth: z.enum(['client_secret_basic', 'client_secret_post', 'private_key_jwt']).optional(),
  private_key: filePath.optional().describe('PEM private key for private_key_jwt client authentication'),
  private_key_id: z.string().optional().describe('kid of private_key as registered at the identity provider'),
  scopes: z.array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'not a valid scope')).default(['openid', 'email', 'profile']),
  timeout: duration.default(5_000).describe('how long to wait for any answer from the identity provider'),
  refresh_grace: duration.default(300_000).describe('how long a session keeps working past its token expiry while the identity provider is unreachable'),
  insecure_allow_http: z.boolean().default(false).describe('allow an http:// issuer; for local testing only'),
  mfa_acr_values: z
    .array(z.string().regex(/^[\x21-\x7e]+$/, 'not a valid acr value'))
    .default([])
    .describe('acr_values to request when a policy needs MFA the session lacks (provider-specific, e.g. "mfa" or "http://schemas.openid.net/pape/policies/2007/06/multi-factor")'),
});

const cookieSettings = z.strictObject({
  name: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,40}$/, 'a cookie name is 1-40 letters, digits, "_" or "-"')
    .refine((name) => !/^__(host|secure)-/i.test(name), 'leave out the __Host-/__Secure- prefix: Portcullis adds the right one itself')
    .default('portcullis'),
  domain: z
    .string()
    .regex(/^\.?[a-z0-9.-]+$/i, 'a cookie domain is a host name such as example.com')
    .optional()
    .describe('share sign-in across every host below this domain'),
  secret: z.string().min(32, 'the cookie secret must be at least 32 characters; generate one with: openssl rand -base64 32').optional(),
  insecure_allow_http: z.boolean().default(false).describe('send cookies without the Secure flag; for plain-http testing only'),
});

const identitySettings = z.strictObject({
  user_claim: z.string().default('sub'),
  email_claim: z.string().default('email'),
  groups_claim: z.string().default('groups'),
  assertion: z
    .strictObject({
      signing_keys: z.array(filePath).default([]).describe('PEM private keys (EC P-256 or RSA); the first signs, all are published'),
      lifetime: duration.default(300_000),
    })
    .default({ signing_keys: [], lifetime: 300_000 }),
});

export const configSchema = z.strictObject({
  listen: z
    .strictObject({
      address: listenAddress.default({ host: '0.0.0.0', port: 8080 }),
      tls: z.strictObject({ cert: filePath, key: filePath }).optional(),
      redirect_http: listenAddress.optional().describe('a plain HTTP listener that redirects every request to HTTPS'),
    })
    .default({ address: { host: '0.0.0.0', port: 8080 } }),
  ops: z
    .strictObject({
      address: listenAddress.default({ host: '127.0.0.1', port: 9090 }),
      admin_token: z
        .string()
        .min(32, 'ops.admin_token must be at least 32 characters; generate one with: openssl rand -base64 32, and pass it as ${ENV}')
        .optional()
        .describe('bearer token for the admin API (/admin/...) on the ops listener'),
      tls: z
        .strictObject({
          cert: filePath,
          key: filePath,
          client_ca: filePath.optional().describe('PEM CA file: clients with a certificate it signed may use the admin API'),
        })
        .optional(),
    })
    .default({ address: { host: '127.0.0.1', port: 9090 } }),
  workers: z
    .union([z.literal('auto'), z.number().int().min(1).max(256)], { error: 'workers is "auto" (one per CPU) or a whole number from 1 to 256' })
    .default(1)
    .describe('processes serving requests; more than 1 needs session.store: redis'),
  public_url: z.url({ protocol: /^https?$/, error: 'public_url must be an http(s) URL such as https://access.example.com' }),
  trusted_proxies: z.array(cidr).default([]),
  limits: z
    .strictObject({
      max_header_bytes: z.number().int().min(1024).max(1_048_576).default(16_384),
      max_headers: z.number().int().min(8).max(1000).default(100),
      header_timeout: duration.default(10_000),
      request_timeout: duration.default(0),
      idle_timeout: duration.default(60_000),
      keep_alive_timeout: duration.default(5_000),
      max_connections: z.number().int().min(1).default(10_000),
      shutdown_timeout: duration.default(30_000),
    })
    .default({
      max_header_bytes: 16_384,
      max_headers: 100,
      header_timeout: 10_000,
      request_timeout: 0,
      idle_timeout: 60_000,
      keep_alive_timeout: 5_000,
      max_connections: 10_000,
      shutdown_timeout: 30_000,
    }),
  log: z
    .strictObject({
      level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
      access_log: z.boolean().default(true),
    })
    .default({ level: 'info', access_log: true }),
  networks: networksSchema,
  policies: policiesSchema,
  device_posture: devicePostureSchema(duration).optional(),
  geo: geoSettings.default({}),
  websockets: websocketSettings.default({ recheck_interval: 10_000 }),
  rate_limits: z
    .strictObject({
      // Generous on purpose: an office behind one NAT address signs in through this one allowance.
      login: rateLimitSchema.prefault({ requests: 300, per: '1m' }).describe('/.portcullis/start, callback and handoff together, per client address'),
    })
    .prefault({}),
  identity_provider: identityProvider.optional(),
  cookie: cookieSettings.default({ name: 'portcullis', insecure_allow_http: false }),
  ...sessionConfigSchemas().shape,
  identity: identitySettings.default({ user_claim: 'sub', email_claim: 'email', groups_claim: 'groups', assertion: { signing_keys: [], lifetime: 300_000 } }),
  routes: z.array(routeSchema).min(1, 'define at least one route'),
}).superRefine(checkSessionConfig);

export type RawConfig = z.output<typeof configSchema>;
export type RawRoute = z.output<typeof routeSchema>;
