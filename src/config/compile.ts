// Turn a validated configuration into the frozen snapshot the request path reads.
// Everything that can be worked out once (route table, matchers, key material)
// is worked out here, so a request only looks things up.
import { readFileSync } from 'node:fs';
import type { LoadedConfig } from './load.ts';
import { formatPath } from './load.ts';
import type { RawConfig, RouteFrom, RouteTo, ListenAddress } from './schema.ts';
import { ConfigError, type ConfigProblem } from '../errors.ts';
import { buildRouteTable, type RouteTable } from '../request/route-match.ts';
import { compileIpMatcher, type IpMatcher } from '../request/client-ip.ts';

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
  readonly to: RouteTo;
  readonly preserveHost: boolean;
  readonly timeoutMs: number;
  readonly websockets: boolean;
  readonly public: boolean;
  readonly upstreamTls: UpstreamTls | undefined;
  /** identifies the connection pool: same origin and TLS settings share one */
  readonly upstreamKey: string;
}

export interface CompiledConfig {
  readonly file: string;
  readonly checksum: string;
  readonly listen: {
    readonly address: ListenAddress;
    readonly tls: { readonly cert: string; readonly key: string } | undefined;
    readonly redirectHttp: ListenAddress | undefined;
  };
  readonly opsAddress: ListenAddress;
  readonly publicUrl: URL;
  readonly isTrustedProxy: IpMatcher;
  readonly limits: RawConfig['limits'];
  readonly log: RawConfig['log'];
  readonly routes: readonly CompiledRoute[];
  readonly routeTable: RouteTable<CompiledRoute>;
  /** canonical names of every header Portcullis injects, stripped from every request */
  readonly injectedHeaderNames: ReadonlySet<string>;
}

export function compileConfig(loaded: LoadedConfig): CompiledConfig {
  const { raw, file } = loaded;
  const problems: ConfigProblem[] = [];
  const problem = (path: PropertyKey[], message: string) =>
    problems.push({ file, ...loaded.locate(path), path: formatPath(path), message });
  const readPem = (path: PropertyKey[], filename: string): string => {
    try {
      return readFileSync(filename, 'utf8');
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
      to: r.to,
      preserveHost: r.preserve_host,
      timeoutMs: r.timeout,
      websockets: r.websockets,
      public: r.public,
      upstreamTls,
      upstreamKey: upstreamTls ? `${r.to.origin}#${JSON.stringify(t)}` : r.to.origin,
    });
  });

  if (problems.length) throw new ConfigError(problems);

  return Object.freeze({
    file,
    checksum: loaded.checksum,
    listen: Object.freeze({ address: raw.listen.address, tls, redirectHttp: raw.listen.redirect_http }),
    opsAddress: raw.ops.address,
    publicUrl: new URL(raw.public_url),
    isTrustedProxy: compileIpMatcher(raw.trusted_proxies),
    limits: Object.freeze(raw.limits),
    log: Object.freeze(raw.log),
    routes: Object.freeze(routes),
    routeTable: buildRouteTable(routes),
    injectedHeaderNames: new Set<string>(),
  });
}

/** Routes that ask for insecure settings, so start-up can warn about each. */
export function insecureSettings(config: CompiledConfig): string[] {
  const out: string[] = [];
  for (const r of config.routes) {
    if (r.upstreamTls && !r.upstreamTls.rejectUnauthorized) out.push(`route "${r.name}": upstream_tls.insecure_skip_verify is on; the upstream's certificate is not checked`);
  }
  return out;
}
