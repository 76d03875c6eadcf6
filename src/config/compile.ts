// Turn a validated configuration into the frozen snapshot the request path reads.
// Everything that can be worked out once (route table, matchers, key material)
// is worked out here, so a request only looks things up.
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import type { LoadedConfig } from './load.ts';
import { formatPath, sortProblems } from './load.ts';
import type { RawConfig, RouteFrom, RouteTo, ListenAddress } from './schema.ts';
import { ConfigError, type ConfigProblem } from '../errors.ts';
import { buildRouteTable, type RouteTable } from '../request/route-match.ts';
import { compileIpMatcher, type IpMatcher } from '../request/client-ip.ts';
import { canonicalHeaderName, upstreamHeaderName } from '../request/headers.ts';
import { compileTemplate, type HeaderTemplate } from '../identity/inject.ts';
import type { IdpSettings } from '../auth/oidc.ts';
import type { SessionStoreConfig } from '../session/config.ts';
import { compilePolicies, type RoutePolicy, type CompiledPolicies } from '../policy/compile.ts';
import { createPostureVerifier, PostureConfigError, type PostureVerifier, type PostureLogger } from '../posture/index.ts';
import { compileOps, type CompiledOps } from '../admin/config.ts';
import { workersConfigProblems } from '../workers.ts';
import { rateLimitSpec, type RateLimitSpec } from '../request/rate-limit.ts';
import { compileGeo, type CompiledGeo } from '../geo/country.ts';

export interface UpstreamTls {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly servername?: string;
  readonly rejectUnauthorized: boolean;
}

export interface CompiledRoute {
  readonly name: string;
  readonly host: string;
  readonly pathPrefix: string;
  readonly scheme: 'http' | 'https';
  /** the identity assertion's audience ("https://app.example.com") for an exact host; a wildcard route's comes from each request's host */
  readonly audience: string | undefined;
  readonly to: RouteTo;
  readonly preserveHost: boolean;
  readonly timeoutMs: number;
  readonly websockets: boolean;
  readonly public: boolean;
  readonly upstreamTls: UpstreamTls | undefined;
  /** identifies the connection pool: same origin and TLS settings share one */
  readonly upstreamKey: string;
  /** extra identity headers from claims */
  readonly identityHeaders: readonly (readonly [string, HeaderTemplate])[];
  readonly passAccessToken: boolean;
  readonly passIdToken: boolean;
  readonly allowCorsPreflight: boolean;
  /** the route's policy (and shadow policy); undefined for public routes */
  readonly policy: RoutePolicy | undefined;
  /** requests per window and user (or client address on public routes); undefined: unlimited */
  readonly rateLimit: RateLimitSpec | undefined;
}

export interface CompiledAuth {
  readonly idp: IdpSettings;
  readonly cookie: {
    readonly baseName: string;
    readonly domain: string | undefined;
    /** undefined: a random secret per process (single instance only) */
    readonly secret: string | undefined;
    readonly secure: boolean;
  };
  readonly userHeader: HeaderTemplate;
  readonly emailClaim: string;
  readonly groupsClaim: string;
  readonly signingKeyPems: readonly string[];
  readonly assertionLifetimeMs: number;
}

export interface CompiledConfig {
  readonly file: string;
  readonly checksum: string;
  /** sha256 of the YAML and every file it references (certificates, keys, databases) */
  readonly fingerprint: string;
  readonly listen: {
    readonly address: ListenAddress;
    readonly tls: { readonly cert: string; readonly key: string } | undefined;
    readonly redirectHttp: ListenAddress | undefined;
  };
  readonly opsAddress: ListenAddress;
  /** admin token and TLS of the ops listener (src/admin/) */
  readonly ops: CompiledOps;
  /** processes serving requests (src/workers.ts) */
  readonly workers: RawConfig['workers'];
  readonly publicUrl: URL;
  readonly isTrustedProxy: IpMatcher;
  readonly limits: RawConfig['limits'];
  readonly log: RawConfig['log'];
  readonly routes: readonly CompiledRoute[];
  readonly routeTable: RouteTable<CompiledRoute>;
  /** canonical names of every header Portcullis injects, stripped from every request */
  readonly injectedHeaderNames: ReadonlySet<string>;
  /** the session: and redis: sections as validated, for the session store factory */
  readonly sessionStore: SessionStoreConfig;
  readonly session: { readonly idleMs: number; readonly lifetimeMs: number };
  readonly policies: CompiledPolicies;
  /** verifies device posture; undefined when device_posture is not configured */
  readonly posture: PostureVerifier | undefined;
  /** where the client's country comes from: a trusted proxy's header, then the geo database (src/geo/) */
  readonly geo: CompiledGeo;
  readonly websocketRecheckMs: number;
  /** sign-in settings; undefined when every route is public */
  readonly auth: CompiledAuth | undefined;
  /** limits beyond routes: the sign-in endpoints, per client address */
  readonly rateLimits: { readonly login: RateLimitSpec };
}

export interface CompileOptions {
  /** where the posture verifier reports key outages */
  readonly logger?: PostureLogger;
}

const silent: PostureLogger = { warn: () => {} };

export function compileConfig(loaded: LoadedConfig, options: CompileOptions = {}): CompiledConfig {
  const { raw, file } = loaded;
  const problems: ConfigProblem[] = [];
  const problem = (path: PropertyKey[], message: string) =>
    problems.push({ file, ...loaded.locate(path), path: formatPath(path), message });
  // Every file the configuration reads goes into its fingerprint, so a renewed certificate
  // or a rotated key reloads even when the YAML itself did not change.
  const fingerprint = createHash('sha256').update(loaded.checksum);
  const readPem = (path: PropertyKey[], filename: string): string => {
    try {
      const text = readFileSync(filename, 'utf8');
      fingerprint.update(filename).update('\0').update(text);
      return text;
    } catch (err) {
      problem(path, `cannot read ${filename} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
      return '';
    }
  };

  let tls: CompiledConfig['listen']['tls'];
  if (raw.listen.tls) {
    tls = { cert: readPem(['listen', 'tls', 'cert'], raw.listen.tls.cert), key: readPem(['listen', 'tls', 'key'], raw.listen.tls.key) };
  }
  if (raw.listen.redirect_http && !raw.listen.tls) {
    problem(['listen', 'redirect_http'], 'redirect_http needs listen.tls: there is no HTTPS listener to redirect to');
  }

  const policies = compilePolicies(raw, (path, message) => problem([...path], message));
  raw.routes.forEach((r, i) => {
    // Deny by default: a protected route must say who may use it.
    if (!r.public && r.policy === undefined) {
      problem(['routes', i], `route "${r.name}" requires sign-in but has no policy; add "policy: { allow: [ { authenticated: true } ] }" to let in anyone who signs in, name a policy from policies:, or set "public: true"`);
    }
  });

  let posture: PostureVerifier | undefined;
  if (raw.device_posture) {
    try {
      // Key files go into the fingerprint too: replacing one and reloading must take the new
      // key and stop trusting the old one, though the YAML did not change.
      const readKeyFile = (filename: string): string => {
        const text = readFileSync(filename, 'utf8');
        fingerprint.update(filename).update('\0').update(text);
        return text;
      };
      posture = createPostureVerifier(raw.device_posture, { logger: options.logger ?? silent, readFile: readKeyFile });
    } catch (err) {
      if (!(err instanceof PostureConfigError)) throw err;
      for (const p of err.problems) problem(['device_posture', ...p.path], p.message);
    }
  }

  const seenNames = new Map<string, number>();
  const seenFrom = new Map<string, number>();
  const routes: CompiledRoute[] = raw.routes.map((r, i) => {
    const from: RouteFrom = r.from;
    if (seenNames.has(r.name)) problem(['routes', i, 'name'], `route name "${r.name}" is already used by routes[${seenNames.get(r.name)}]`);
    seenNames.set(r.name, i);
    const fromKey = `${from.host}${from.pathPrefix}`;
    if (seenFrom.has(fromKey)) problem(['routes', i, 'from'], `routes[${seenFrom.get(fromKey)}] already serves ${fromKey}; each host and path prefix may appear once`);
    seenFrom.set(fromKey, i);

    let upstreamTls: UpstreamTls | undefined;
    const t = r.upstream_tls;
    if (t) {
      if (!r.to.tls) problem(['routes', i, 'upstream_tls'], 'upstream_tls needs an https:// upstream in "to"');
      if (!!t.cert !== !!t.key) problem(['routes', i, 'upstream_tls'], 'give both cert and key for mutual TLS, or neither');
      upstreamTls = {
        ca: t.ca ? readPem(['routes', i, 'upstream_tls', 'ca'], t.ca) : undefined,
        cert: t.cert ? readPem(['routes', i, 'upstream_tls', 'cert'], t.cert) : undefined,
        key: t.key ? readPem(['routes', i, 'upstream_tls', 'key'], t.key) : undefined,
        servername: t.server_name,
        rejectUnauthorized: !t.insecure_skip_verify,
      };
    }
    return Object.freeze({
      name: r.name,
      host: from.host,
      pathPrefix: from.pathPrefix,
      scheme: from.scheme,
      audience: from.host.startsWith('*.') ? undefined : `${from.scheme}://${from.host}`,
      to: r.to,
      preserveHost: r.preserve_host,
      timeoutMs: r.timeout,
      websockets: r.websockets,
      public: r.public,
      upstreamTls,
      upstreamKey: upstreamTls ? `${r.to.origin}#${JSON.stringify(t)}` : r.to.origin,
      identityHeaders: Object.entries(r.headers).map(([name, template]) => [upstreamHeaderName(name), compileTemplate(template, raw.identity.user_claim)] as const),
      passAccessToken: r.pass_access_token,
      passIdToken: r.pass_id_token,
      allowCorsPreflight: r.allow_cors_preflight,
      policy: policies.routes[i],
      rateLimit: r.rate_limit ? rateLimitSpec(r.rate_limit) : undefined,
    });
  });

  const injectedHeaderNames = new Set<string>();
  for (const r of routes) for (const [name] of r.identityHeaders) injectedHeaderNames.add(canonicalHeaderName(name));
  // Posture headers are for Portcullis; an app behind it must not trust a client-sent copy.
  for (const name of posture?.headerNames ?? []) injectedHeaderNames.add(canonicalHeaderName(name));

  const auth = compileAuth(raw, routes, problem, readPem);
  const ops = compileOps(raw.ops, readPem);
  for (const p of workersConfigProblems(raw)) problem(p.path, p.message);
  const geo = compileGeo(raw.geo, (path, message) => problem(['geo', ...path], message));

  if (problems.length) throw new ConfigError(sortProblems(problems));

  return Object.freeze({
    file,
    checksum: loaded.checksum,
    fingerprint: fingerprint.update(geo.database?.checksum ?? '').digest('hex'),
    listen: Object.freeze({ address: raw.listen.address, tls, redirectHttp: raw.listen.redirect_http }),
    opsAddress: raw.ops.address,
    ops,
    workers: raw.workers,
    publicUrl: new URL(raw.public_url),
    isTrustedProxy: compileIpMatcher(raw.trusted_proxies),
    limits: Object.freeze(raw.limits),
    log: Object.freeze(raw.log),
    routes: Object.freeze(routes),
    routeTable: buildRouteTable(routes),
    injectedHeaderNames,
    policies,
    posture,
    geo,
    websocketRecheckMs: raw.websockets.recheck_interval,
    sessionStore: { session: raw.session, redis: raw.redis },
    session: Object.freeze({ idleMs: raw.session.idle_timeout, lifetimeMs: raw.session.lifetime }),
    auth,
    rateLimits: Object.freeze({ login: rateLimitSpec(raw.rate_limits.login) }),
  });
}

function compileAuth(
  raw: RawConfig,
  routes: readonly CompiledRoute[],
  problem: (path: PropertyKey[], message: string) => void,
  readPem: (path: PropertyKey[], file: string) => string,
): CompiledAuth | undefined {
  const protectedRoutes = routes.map((r, i) => [r, i] as const).filter(([r]) => !r.public);
  const idp = raw.identity_provider;
  if (!idp) {
    for (const [r, i] of protectedRoutes) {
      problem(['routes', i, 'public'], `route "${r.name}" requires sign-in, but no identity_provider is configured; add one, or set "public: true" if anyone may use this route`);
    }
    return undefined;
  }
  const publicUrl = new URL(raw.public_url);
  if (idp.issuer.startsWith('http:') && !idp.insecure_allow_http) {
    problem(['identity_provider', 'issuer'], 'the issuer uses plain http; use https, or set identity_provider.insecure_allow_http: true for local testing');
  }
  const secure = !raw.cookie.insecure_allow_http;
  if (publicUrl.protocol === 'http:' && secure) {
    problem(['public_url'], 'public_url uses plain http, so browsers would drop the Secure session cookie; use https, or set cookie.insecure_allow_http: true for local testing');
  }
  let clientAuth = idp.client_auth;
  if (!clientAuth) clientAuth = idp.client_secret ? 'client_secret_basic' : idp.private_key ? 'private_key_jwt' : undefined;
  if (!clientAuth) problem(['identity_provider'], 'give client_secret (client_secret_basic or client_secret_post) or private_key (private_key_jwt) for client authentication');
  if ((clientAuth === 'client_secret_basic' || clientAuth === 'client_secret_post') && !idp.client_secret) {
    problem(['identity_provider', 'client_secret'], `client_auth ${clientAuth} needs client_secret`);
  }
  let privateKeyPem: string | undefined;
  if (clientAuth === 'private_key_jwt') {
    if (!idp.private_key) problem(['identity_provider', 'private_key'], 'client_auth private_key_jwt needs private_key (a PEM file)');
    else privateKeyPem = readPem(['identity_provider', 'private_key'], idp.private_key);
  }
  if (!idp.scopes.includes('openid')) problem(['identity_provider', 'scopes'], 'scopes must include "openid"');
  const domain = raw.cookie.domain?.replace(/^\./, '').toLowerCase();
  const signingKeyPems = raw.identity.assertion.signing_keys.map((f, i) => readPem(['identity', 'assertion', 'signing_keys', i], f));
  return {
    idp: {
      issuer: idp.issuer,
      clientId: idp.client_id,
      clientSecret: idp.client_secret,
      clientAuth: clientAuth ?? 'client_secret_basic',
      privateKeyPem,
      privateKeyId: idp.private_key_id,
      scopes: idp.scopes,
      timeoutMs: idp.timeout,
      refreshGraceMs: idp.refresh_grace,
      insecureAllowHttp: idp.insecure_allow_http,
      redirectUri: new URL('/.portcullis/callback', publicUrl).toString(),
      mfaAcrValues: idp.mfa_acr_values,
    },
    cookie: { baseName: raw.cookie.name, domain, secret: raw.cookie.secret, secure },
    userHeader: compileTemplate(`{${raw.identity.user_claim}}`, raw.identity.user_claim),
    emailClaim: raw.identity.email_claim,
    groupsClaim: raw.identity.groups_claim,
    signingKeyPems,
    assertionLifetimeMs: Math.min(raw.identity.assertion.lifetime, 300_000),
  };
}

/** Routes that ask for insecure settings, so start-up can warn about each. */
export function insecureSettings(config: CompiledConfig): string[] {
  const out: string[] = [];
  const a = config.auth;
  if (a?.idp.insecureAllowHttp) out.push('identity_provider.insecure_allow_http is on; the identity provider may be reached over plain http');
  if (a && !a.cookie.secure) out.push('cookie.insecure_allow_http is on; session cookies are sent without the Secure flag');
  if (a && !a.cookie.secret) out.push('cookie.secret is not set; a random one is used, so sign-in state does not survive a restart or work across several instances');
  if (a && a.signingKeyPems.length === 0) out.push('identity.assertion.signing_keys is empty; a key is generated at start, so upstreams see a new JWKS after every restart');
  for (const r of config.routes) {
    if (r.upstreamTls && !r.upstreamTls.rejectUnauthorized) out.push(`route "${r.name}": upstream_tls.insecure_skip_verify is on; the upstream's certificate is not checked`);
  }
  return out;
}
