// Build the header list sent upstream from the client's raw headers:
// drop hop-by-hop headers (and any the Connection header names), drop every
// client-sent copy of an identity or forwarding header in any spelling, and
// then add the values Portcullis itself vouches for.

/** Lower-case, '_' -> '-': "X_Forwarded_User" and "x-forwarded-user" are the same header to many servers. */
export function canonicalHeaderName(name: string): string {
  const lower = name.toLowerCase();
  return lower.includes('_') ? lower.replaceAll('_', '-') : lower;
}

// RFC 9110 7.6.1 plus the non-standard ones still seen in the wild.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

/**
 * Headers a client must never set for the upstream. Portcullis sets the ones it vouches for.
 * Besides this list, every header starting with x-forwarded- or x-portcullis- is dropped.
 */
const ALWAYS_STRIPPED = new Set([
  'forwarded',
  'x-real-ip',
  'x-client-ip',
  'x-original-url',
  'x-original-uri',
  'x-original-host',
  'x-original-method',
  'x-rewrite-url',
  'x-request-id',
  'x-remote-user',
  'x-remote-email',
  'x-remote-groups',
  'remote-user',
  'x-auth-request-user',
  'x-auth-request-email',
  'x-auth-request-groups',
  'x-auth-request-preferred-username',
  'x-auth-request-access-token',
  'x-id-token',
  'x-access-token',
  // Frameworks that honour these act on a method the policy's `methods` criterion never saw.
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
  'expect', // Node answers 100-continue itself; the upstream gets the body without waiting
  'host', // set by the forwarder: the upstream's or, with preserve_host, the client's
  'content-length', // passed separately so the forwarder can check it against the body
]);

export function isStrippedHeader(canonical: string, extra: ReadonlySet<string>): boolean {
  return (
    HOP_BY_HOP.has(canonical) ||
    ALWAYS_STRIPPED.has(canonical) ||
    canonical.startsWith('x-forwarded-') ||
    canonical.startsWith('x-portcullis-') ||
    extra.has(canonical)
  );
}

export interface UpstreamHeaderInput {
  /** req.rawHeaders: [name, value, name, value, ...] as the client sent them */
  readonly rawHeaders: readonly string[];
  /** names (canonical form) configured to be injected anywhere, stripped on every route */
  readonly extraStripped: ReadonlySet<string>;
  /** a Cookie header's value as the upstream should see it; undefined drops the header */
  readonly cookie?: ((value: string) => string | undefined) | undefined;
}

/**
 * Returns a flat [name, value, ...] list without hop-by-hop, identity, forwarding,
 * host and content-length headers; the caller appends the trusted ones.
 */
export function filterRequestHeaders({ rawHeaders, extraStripped, cookie }: UpstreamHeaderInput): string[] {
  let connectionTokens: Set<string> | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.length === 10 && nameInfo(rawHeaders[i]!).canonical === 'connection') {
      for (const token of rawHeaders[i + 1]!.split(',')) {
        const t = canonicalHeaderName(token.trim());
        if (t && t !== 'close' && t !== 'keep-alive') (connectionTokens ??= new Set()).add(t);
      }
    }
  }
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const info = nameInfo(name);
    if (info.alwaysStripped || extraStripped.has(info.canonical)) continue;
    if (connectionTokens?.has(info.canonical)) continue;
    if (cookie !== undefined && info.canonical === 'cookie') {
      const value = cookie(rawHeaders[i + 1]!);
      if (value !== undefined) out.push(name, value);
      continue;
    }
    out.push(name, rawHeaders[i + 1]!);
  }
  return out;
}

interface NameInfo {
  readonly canonical: string;
  /** stripped whatever the configuration says */
  readonly alwaysStripped: boolean;
}

// Clients send the same few dozen header names over and over: canonicalize each spelling once.
// Bounded, because header names are client-chosen.
const nameInfos = new Map<string, NameInfo>();
const NOTHING_EXTRA: ReadonlySet<string> = new Set();

function nameInfo(name: string): NameInfo {
  let info = nameInfos.get(name);
  if (info === undefined) {
    const canonical = canonicalHeaderName(name);
    info = { canonical, alwaysStripped: isStrippedHeader(canonical, NOTHING_EXTRA) };
    if (nameInfos.size >= 4096) nameInfos.clear();
    nameInfos.set(name, info);
  }
  return info;
}

/**
 * What the client gets of the upstream's response headers, as the flat [name, value, ...] list
 * writeHead takes (Node walks it directly; an object it walks with for-in and hasOwnProperty):
 * all but hop-by-hop ones and any the upstream's Connection header names, and Portcullis's
 * request id in place of any X-Request-Id the upstream sent.
 */
export function filterResponseHeaders(headers: Record<string, string | string[] | undefined>, requestId: string): (string | string[])[] {
  const connection = headers['connection'];
  let named: Set<string> | undefined;
  // Nearly every upstream says just "keep-alive" or "close", both hop-by-hop already.
  if (connection && connection !== 'keep-alive' && connection !== 'close') {
    for (const token of String(connection).split(',')) named = (named ?? new Set()).add(token.trim().toLowerCase());
  }
  const out: (string | string[])[] = [];
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP.has(name) || named?.has(name) || name === 'x-request-id') continue;
    out.push(name, value);
  }
  out.push('x-request-id', requestId);
  return out;
}

/**
 * A configured header name as it is sent upstream: in lower case (see src/identity/inject.ts),
 * and interned (the copy of the string V8 keeps as a property key), like the names written in
 * the source, which undici looks up in its table of known headers on every request.
 */
export function upstreamHeaderName(name: string): string {
  return Object.keys({ [name.toLowerCase()]: 0 })[0]!;
}
