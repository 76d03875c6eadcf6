// Cookie names, parsing and Set-Cookie serialization. Pure.

export interface CookieNames {
  /** the session ticket */
  readonly session: string;
  /** the short-lived login state (state, nonce, PKCE verifier, return URL) */
  readonly login: string;
}

export interface CookiePolicy {
  readonly names: CookieNames;
  readonly domain: string | undefined;
  readonly secure: boolean;
}

/**
 * __Host- cookies cannot be set by a sibling subdomain or over plain http, and are
 * bound to one host: the strongest choice when no domain is shared. With a shared
 * domain, __Secure- still guarantees they were set over HTTPS.
 */
export function cookieNames(base: string, domain: string | undefined, secure: boolean): CookieNames {
  const prefix = !secure ? '' : domain ? '__Secure-' : '__Host-';
  return { session: `${prefix}${base}`, login: `${secure ? '__Host-' : ''}${base}-login` };
}

/** Every value of the named cookie, in header order (a sibling domain may have planted extra ones). */
export function readCookies(header: string | undefined, name: string): string[] {
  if (!header) return [];
  const out: string[] = [];
  let start = 0;
  while (start < header.length) {
    let end = header.indexOf(';', start);
    if (end === -1) end = header.length;
    const eq = header.indexOf('=', start);
    if (eq !== -1 && eq < end) {
      const key = header.slice(start, eq).trim();
      if (key === name) out.push(header.slice(eq + 1, end).trim());
    }
    start = end + 1;
  }
  return out;
}

/** Every cookie whose name starts with `prefix`, in header order. */
export function cookiesWithPrefix(header: string | undefined, prefix: string): { name: string; value: string }[] {
  if (!header) return [];
  const out: { name: string; value: string }[] = [];
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    const name = part.slice(0, eq).trim();
    if (name.startsWith(prefix)) out.push({ name, value: part.slice(eq + 1).trim() });
  }
  return out;
}

export interface SetCookieOptions {
  readonly maxAgeSeconds?: number; // omitted: a browser-session cookie
  readonly domain?: string;
  readonly secure: boolean;
  readonly sameSite: 'Lax' | 'Strict';
  readonly path?: string;
}

export function serializeCookie(name: string, value: string, o: SetCookieOptions): string {
  let out = `${name}=${value}; Path=${o.path ?? '/'}; HttpOnly; SameSite=${o.sameSite}`;
  if (o.secure) out += '; Secure';
  if (o.domain && !name.startsWith('__Host-')) out += `; Domain=${o.domain}`;
  if (o.maxAgeSeconds !== undefined) out += `; Max-Age=${Math.max(0, Math.floor(o.maxAgeSeconds))}`;
  return out;
}

export function clearCookie(name: string, o: Omit<SetCookieOptions, 'maxAgeSeconds'>): string {
  return serializeCookie(name, '', { ...o, maxAgeSeconds: 0 });
}

/**
 * withoutPortcullisCookies for one set of names, with the last header's answer kept: a
 * keep-alive connection, and a browser for minutes, sends the same Cookie header request
 * after request, and comparing it costs less than taking it apart again.
 */
export function upstreamCookieFilter(names: CookieNames): (value: string) => string | undefined {
  let lastValue: string | undefined;
  let lastAnswer: string | undefined;
  return (value) => {
    if (value !== lastValue) {
      lastAnswer = withoutPortcullisCookies(value, names);
      lastValue = value;
    }
    return lastAnswer;
  };
}

/**
 * A Cookie header's value without Portcullis's cookies (the session and every login-state
 * cookie), or undefined when nothing else is left and the header should go.
 */
export function withoutPortcullisCookies(value: string, names: CookieNames): string | undefined {
  if (!value.includes(names.session) && !value.includes(names.login)) return value;
  // Most requests to an app that sets no cookies of its own carry only the session cookie.
  if (!value.includes(';')) {
    const eq = value.indexOf('=');
    return isPortcullisCookie((eq === -1 ? value : value.slice(0, eq)).trim(), names) ? undefined : value;
  }
  const kept: string[] = [];
  for (const part of value.split(';')) {
    const eq = part.indexOf('=');
    const key = (eq === -1 ? part : part.slice(0, eq)).trim();
    if (!key || isPortcullisCookie(key, names)) continue;
    kept.push(part.trim());
  }
  return kept.length ? kept.join('; ') : undefined;
}

function isPortcullisCookie(name: string, names: CookieNames): boolean {
  return name === names.session || name === names.login || name.startsWith(names.login + '-');
}
