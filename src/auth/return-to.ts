// Pure: where may a user be sent after signing in? Only to an http(s) URL on a host
// Portcullis serves. Everything else (//evil, /\evil, https:evil, userinfo tricks,
// control characters, encoded variants) is refused rather than repaired.
import { normalizeHost } from '../request/target.ts';

export type HostServed = (host: string) => boolean;

/** The safe absolute URL, or undefined. `fallback` is used by callers when this is undefined. */
export function safeReturnUrl(candidate: string | null | undefined, isServed: HostServed): string | undefined {
  if (!candidate || candidate.length > 4096) return undefined;
  // Browsers strip tabs/newlines and treat "\" as "/": refuse anything that could be read two ways.
  if (/[\u0000-\u001f\u007f\\\s]/.test(candidate)) return undefined;
  const m = /^(https?):\/\/([^/?#@]+)([/?#].*)?$/i.exec(candidate);
  if (!m) return undefined;
  const authority = m[2]!;
  const host = normalizeHost(authority);
  if (!host || !isServed(host)) return undefined;
  let url: URL;
  try {
    url = new URL(candidate);
  } catch {
    return undefined;
  }
  // The URL parser must agree with our reading of the host (no userinfo, no odd encodings).
  if (url.username || url.password) return undefined;
  if (normalizeHost(url.host) !== host) return undefined;
  if (url.protocol !== `${m[1]!.toLowerCase()}:`) return undefined;
  url.hash = '';
  return url.toString();
}
