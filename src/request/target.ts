// Pure: turn the request line's target and the Host header into the one host
// and the one path that routing, policy and the upstream will all see.
// Anything that different servers could read differently is refused, not guessed.
import { isValidHostname } from '../config/schema.ts';
import ipaddr from 'ipaddr.js';

export type TargetResult =
  | { ok: true; host: string; path: string; query: string }
  | { ok: false; code: 'bad_host' | 'ambiguous_path' | 'bad_request'; reason: string };

// Paths made only of these characters need no normalization: no '%', no '\\',
// and the dot-segment and '//' checks below are cheap string searches.
const PLAIN_PATH = /^\/[A-Za-z0-9\-._~!$&'()*+,;=:@/]*$/;

/**
 * @param target  the raw request-target from the request line (req.url)
 * @param hostHeader the Host header, or undefined when absent
 */
export function parseTarget(target: string, hostHeader: string | undefined): TargetResult {
  let rawPath: string;
  let authority: string | undefined;
  if (target.charCodeAt(0) === 47 /* / */) {
    rawPath = target;
  } else if (/^https?:\/\//i.test(target)) {
    // absolute-form: the authority in the target is the host (RFC 9112 3.2.2).
    // A Host header that names another host is refused so nothing downstream can disagree.
    const rest = target.slice(target.indexOf('//') + 2);
    const end = rest.search(/[/?#]/);
    authority = end === -1 ? rest : rest.slice(0, end);
    rawPath = end === -1 ? '/' : rest.slice(end);
    if (rawPath[0] === '?') rawPath = '/' + rawPath;
    if (rawPath[0] === '#') return { ok: false, code: 'bad_request', reason: 'fragment in request target' };
  } else {
    return { ok: false, code: 'bad_request', reason: 'request target must be a path or an absolute http(s) URL' };
  }

  const hostFromHeader = hostHeader === undefined ? undefined : normalizeHostHeader(hostHeader);
  let host: string | undefined;
  if (authority !== undefined) {
    host = normalizeHost(authority);
    if (!host) return { ok: false, code: 'bad_host', reason: 'invalid authority in absolute-form target' };
    if (hostHeader !== undefined && hostFromHeader !== host) {
      return { ok: false, code: 'bad_host', reason: 'Host header names another host than the request target' };
    }
  } else {
    if (hostHeader === undefined) return { ok: false, code: 'bad_host', reason: 'missing Host header' };
    host = hostFromHeader;
    if (!host) return { ok: false, code: 'bad_host', reason: 'invalid Host header' };
  }

  if (rawPath.includes('#')) return { ok: false, code: 'bad_request', reason: 'fragment in request target' };
  const q = rawPath.indexOf('?');
  const pathPart = q === -1 ? rawPath : rawPath.slice(0, q);
  const query = q === -1 ? '' : rawPath.slice(q);
  const path = normalizePath(pathPart);
  if (typeof path !== 'string') return { ok: false, code: 'ambiguous_path', reason: path.reason };
  return { ok: true, host, path, query };
}

// Every request normalizes its Host header, and a server sees the same few values again and
// again: remember the answers. Bounded, because the header is client-chosen.
const normalizedHosts = new Map<string, string | null>();

function normalizeHostHeader(value: string): string | undefined {
  let host = normalizedHosts.get(value);
  if (host === undefined) {
    host = normalizeHost(value) ?? null;
    if (normalizedHosts.size >= 4096) normalizedHosts.clear();
    normalizedHosts.set(value, host);
  }
  return host ?? undefined;
}

/** "Example.COM.:443" -> "example.com"; "[::1]:8080" -> "[::1]"; undefined when not a valid host. */
export function normalizeHost(value: string): string | undefined {
  let host = value.trim();
  if (host.length === 0 || host.length > 300) return undefined;
  if (host[0] === '[') {
    const close = host.indexOf(']');
    if (close === -1) return undefined;
    const rest = host.slice(close + 1);
    if (rest && !/^:\d{1,5}$/.test(rest)) return undefined;
    const literal = host.slice(1, close);
    if (!ipaddr.IPv6.isValid(literal)) return undefined;
    return `[${ipaddr.IPv6.parse(literal).toString()}]`;
  }
  const colon = host.lastIndexOf(':');
  if (colon !== -1) {
    if (!/^\d{1,5}$/.test(host.slice(colon + 1))) return undefined;
    host = host.slice(0, colon);
  }
  host = host.toLowerCase();
  if (host.endsWith('.')) host = host.slice(0, -1); // "example.com." is the same host as "example.com"
  if (!isValidHostname(host)) return undefined;
  return host;
}

const HEX = /^[0-9A-Fa-f]{2}$/;
const UNRESERVED = /[A-Za-z0-9\-_~]/; // '.' is handled separately: an encoded dot is refused

/**
 * Normalize a raw path so that its meaning is unambiguous, or say why it is refused.
 * - percent-encoded unreserved characters are decoded ("/%61dmin" is "/admin" to any upstream)
 * - remaining escapes are upper-cased, "//" collapses to "/", "." and ".." segments are resolved
 * - refused: encoded "/", "\\", "." or NUL, any double encoding of what we decode or refuse, raw "\\",
 *   invalid escapes or UTF-8, ".." above the root, "..;" and ";x" segments, characters that NFKC folds into ASCII
 */
export function normalizePath(raw: string): string | { reason: string } {
  if (PLAIN_PATH.test(raw) && !raw.includes('//') && !raw.includes('/.') && !raw.includes('/;')) return raw;
  if (raw.includes('\\')) return { reason: 'backslash in path' };
  if (raw.includes('\0')) return { reason: 'NUL in path' };
  let decodedForCheck: string;
  try {
    decodedForCheck = decodeURIComponent(raw);
  } catch {
    return { reason: 'invalid percent-encoding or UTF-8 in path' };
  }
  if (decodedForCheck.includes('\0')) return { reason: 'encoded NUL in path' };
  if (/[\u0000-\u001f\u007f]/.test(decodedForCheck)) return { reason: 'control character in path' };
  // An upstream that folds Unicode compatibility forms (NFKC) would read "／" as "/" and
  // "ａdmin" as "admin": a path the policy never saw. Refuse characters that fold into ASCII.
  if (/[^\u0000-\u007f]/.test(decodedForCheck) && foldsIntoAscii(decodedForCheck)) return { reason: 'Unicode compatibility character (such as a fullwidth letter or slash) in path' };

  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c !== '%') {
      out += c;
      continue;
    }
    const hex = raw.slice(i + 1, i + 3);
    if (!HEX.test(hex)) return { reason: 'invalid percent-encoding in path' };
    const byte = parseInt(hex, 16);
    const ch = String.fromCharCode(byte);
    if (ch === '/' || ch === '\\') return { reason: 'encoded slash or backslash in path' };
    if (ch === '.') return { reason: 'encoded dot in path' };
    if (ch === '%') {
      // Double encoding: an upstream that decodes twice would see what we did not check.
      const inner = raw.slice(i + 3, i + 5);
      // Anything whose single encoding we would decode or refuse (unreserved characters,
      // "/", "\\", ".", NUL, "%" itself) has no honest reason to arrive double-encoded.
      if (HEX.test(inner) && isDoubleEncodingEvasion(parseInt(inner, 16))) {
        return { reason: 'double-encoded character in path (such as %252e or %2561)' };
      }
    }
    out += byte < 0x80 && UNRESERVED.test(ch) ? ch : '%' + hex.toUpperCase();
    i += 2;
  }

  const segments = out.split('/');
  const stack: string[] = [];
  for (let i = 1; i < segments.length; i++) {
    const seg = segments[i]!;
    const last = i === segments.length - 1;
    if (seg === '' && !last) continue; // "//" collapses
    // Tomcat and Jetty drop ";params" before resolving segments, so "/..;/admin" is "/../admin"
    // and "/;x/admin" is "//admin" to them, but ordinary segments to us: refuse rather than guess.
    const semicolon = seg.indexOf(';');
    if (semicolon !== -1 && /^\.{0,2}$/.test(seg.slice(0, semicolon))) return { reason: 'empty or dot segment with a ;parameter in path' };
    if (seg === '.') {
      if (last) stack.push('');
      continue;
    }
    if (seg === '..') {
      if (stack.length === 0) return { reason: '".." leaves the root of the site' };
      stack.pop();
      if (last) stack.push('');
      continue;
    }
    stack.push(seg);
  }
  return '/' + stack.join('/');
}

function isDoubleEncodingEvasion(byte: number): boolean {
  if (byte >= 0x80) return false;
  const ch = String.fromCharCode(byte);
  return UNRESERVED.test(ch) || ch === '/' || ch === '\\' || ch === '.' || ch === '%' || byte === 0;
}

function foldsIntoAscii(decoded: string): boolean {
  for (const ch of decoded) {
    if (ch.charCodeAt(0) > 0x7f && /[\u0000-\u007f]/.test(ch.normalize('NFKC'))) return true;
  }
  return false;
}
