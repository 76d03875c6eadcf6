// Identity headers for the upstream, compiled once per configuration.
// They are added only after every client-sent copy was stripped (src/request/headers.ts).
import type { SessionData } from '../auth/session-data.ts';

// Sent in lower case, as HTTP/2 requires and any HTTP/1.1 server accepts (names are
// case-insensitive): undici lower-cases every name it does not know, once per request.
export const USER_HEADER = 'x-forwarded-user';
export const EMAIL_HEADER = 'x-forwarded-email';
export const GROUPS_HEADER = 'x-forwarded-groups';
export const ASSERTION_HEADER = 'x-portcullis-jwt-assertion';
export const ID_TOKEN_HEADER = 'x-portcullis-id-token';

export type HeaderTemplate = (session: SessionData) => string;

/**
 * "{email}", "{user}", "{groups}", "{sub}", "{name}" or any claim "{department}"; text around
 * placeholders is kept. An unknown claim renders as empty.
 */
export function compileTemplate(template: string, userClaim: string): HeaderTemplate {
  const parts = template.split(/(\{[A-Za-z0-9_.:-]+\})/).filter((p) => p !== '');
  const pieces: HeaderTemplate[] = parts.map((part) => {
    if (!(part.startsWith('{') && part.endsWith('}'))) return () => part;
    const name = part.slice(1, -1);
    if (name === 'user') return (s) => claimText(claimOf(s, userClaim));
    if (name === 'groups') return (s) => groupsHeader(s.groups);
    return (s) => claimText(claimOf(s, name));
  });
  // A session object is immutable and the session cache hands out the same one for a second:
  // render each once.
  const rendered = new WeakMap<SessionData, string>();
  return (s) => {
    let value = rendered.get(s);
    if (value === undefined) rendered.set(s, (value = headerSafe(pieces.map((p) => p(s)).join(''))));
    return value;
  };
}

export function claimOf(s: SessionData, name: string): unknown {
  switch (name) {
    case 'sub':
      return s.sub;
    case 'email':
      return s.email;
    case 'name':
      return s.name;
    case 'groups':
      return s.groups;
    case 'acr':
      return s.acr;
    case 'amr':
      return s.amr;
    case 'sid':
      return s.sid;
    default:
      return s.claims[name];
  }
}

function claimText(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (Array.isArray(v)) return v.map(String).join(',');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** Header values carry visible ASCII only: other characters are percent-encoded (UTF-8), control characters dropped. */
export function headerSafe(value: string): string {
  if (/^[\x20-\x7e]*$/.test(value)) return value;
  let out = '';
  for (const ch of value) {
    const code = ch.codePointAt(0)!;
    if (code < 0x20 || code === 0x7f) continue;
    out += code < 0x7f ? ch : encodeURIComponent(ch);
  }
  return out;
}

const renderedGroups = new WeakMap<readonly string[], string>();

/** Comma-separated; a comma or % inside a group name is percent-encoded so names cannot split or merge. */
export function groupsHeader(groups: readonly string[]): string {
  // A session's groups list is never changed in place: render each list once.
  let value = renderedGroups.get(groups);
  if (value === undefined) renderedGroups.set(groups, (value = headerSafe(groups.map((g) => (/[,%]/.test(g) ? g.replaceAll('%', '%25').replaceAll(',', '%2C') : g)).join(','))));
  return value;
}

export interface CompiledIdentityHeaders {
  readonly user: HeaderTemplate;
  readonly routeHeaders: readonly (readonly [string, HeaderTemplate])[];
}

interface RenderedIdentity {
  /** the user template they were rendered with (a reload may bring another) */
  readonly user: HeaderTemplate;
  /** [name, value, ...]: the user, email and groups headers */
  readonly headers: readonly string[];
}

// A session object is never changed, and the session cache hands out the same one for a
// second: its identity headers are rendered once, and found with one lookup per request.
const renderedIdentity = new WeakMap<SessionData, RenderedIdentity>();

/** The verified identity headers, appended to an already filtered header list. */
export function pushIdentityHeaders(out: string[], s: SessionData, user: HeaderTemplate, extra: CompiledIdentityHeaders['routeHeaders']): void {
  let rendered = renderedIdentity.get(s);
  if (rendered === undefined || rendered.user !== user) renderedIdentity.set(s, (rendered = { user, headers: identityHeaders(s, user) }));
  const headers = rendered.headers;
  for (let i = 0; i < headers.length; i++) out.push(headers[i]!);
  for (const [name, template] of extra) out.push(name, template(s));
}

function identityHeaders(s: SessionData, user: HeaderTemplate): string[] {
  const headers = [USER_HEADER, user(s)];
  if (s.email !== undefined) headers.push(EMAIL_HEADER, headerSafe(s.email));
  headers.push(GROUPS_HEADER, groupsHeader(s.groups));
  return headers;
}
