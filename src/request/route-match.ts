// Pure: host + path -> route. The table is built once per configuration;
// a lookup is one or two Map gets and a short scan of that host's prefixes.

export interface MatchableRoute {
  readonly host: string; // "app.example.com" or "*.example.com"
  readonly pathPrefix: string; // "/" or "/api"
}

export interface RouteTable<R extends MatchableRoute> {
  readonly exact: ReadonlyMap<string, readonly R[]>;
  /** keyed by the suffix after "*.", e.g. "example.com" */
  readonly wildcard: ReadonlyMap<string, readonly R[]>;
}

export function buildRouteTable<R extends MatchableRoute>(routes: readonly R[]): RouteTable<R> {
  const exact = new Map<string, R[]>();
  const wildcard = new Map<string, R[]>();
  for (const route of routes) {
    const [map, key] = route.host.startsWith('*.') ? [wildcard, route.host.slice(2)] : [exact, route.host];
    const list = map.get(key) ?? [];
    list.push(route);
    map.set(key, list);
  }
  // Longest prefix first, so the first hit is the most specific.
  for (const list of [...exact.values(), ...wildcard.values()]) list.sort((a, b) => b.pathPrefix.length - a.pathPrefix.length);
  return { exact, wildcard };
}

/**
 * A prefix matches on segment boundaries: "/api" matches "/api", "/api/x" and "/api;v=1",
 * never "/apix". ";" counts as a boundary because servlet containers strip path parameters.
 */
export function pathHasPrefix(path: string, prefix: string): boolean {
  if (prefix === '/') return true;
  if (!path.startsWith(prefix)) return false;
  if (path.length === prefix.length) return true;
  const next = path.charCodeAt(prefix.length);
  return next === 47 /* / */ || next === 59 /* ; */;
}

/**
 * Most specific match wins: an exact host beats any wildcard, a longer wildcard suffix beats
 * a shorter one, and within a host the longest path prefix wins.
 * "*.example.com" matches any name below example.com, at any depth, but not example.com itself.
 */
export function matchRoute<R extends MatchableRoute>(table: RouteTable<R>, host: string, path: string): R | undefined {
  const exact = table.exact.get(host);
  if (exact) {
    for (const r of exact) if (pathHasPrefix(path, r.pathPrefix)) return r;
  }
  if (table.wildcard.size === 0) return undefined;
  for (let dot = host.indexOf('.'); dot !== -1; dot = host.indexOf('.', dot + 1)) {
    const list = table.wildcard.get(host.slice(dot + 1));
    if (!list) continue;
    for (const r of list) if (pathHasPrefix(path, r.pathPrefix)) return r;
  }
  return undefined;
}

/** Does any route (whatever its path prefix) serve this host? Used to refuse redirects elsewhere. */
export function servesHost<R extends MatchableRoute>(table: RouteTable<R>, host: string): boolean {
  if (table.exact.has(host)) return true;
  for (let dot = host.indexOf('.'); dot !== -1; dot = host.indexOf('.', dot + 1)) {
    if (table.wildcard.has(host.slice(dot + 1))) return true;
  }
  return false;
}
