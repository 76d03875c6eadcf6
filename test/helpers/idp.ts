// Drive the demo identity provider's real login over HTTP, as a browser would
// but without one: follow its redirects, keep its cookies, fill in its form.
import { request } from 'undici';

interface StoredCookie {
  name: string;
  value: string;
  host: string;
  path: string;
  /** epoch ms, or undefined for a session cookie */
  expires?: number;
}

/**
 * A minimal cookie jar: host and path matching, Max-Age and Expires, no Domain
 * widening. Like a browser, it ignores ports: every 127.0.0.1 server shares it.
 */
export class CookieJar {
  #cookies: StoredCookie[] = [];

  /** The Cookie header to send to this URL, or undefined when none apply. */
  header(url: string | URL): string | undefined {
    const { hostname, pathname } = new URL(url);
    const now = Date.now();
    this.#cookies = this.#cookies.filter((c) => c.expires === undefined || c.expires > now);
    const matching = this.#cookies
      .filter((c) => c.host === hostname && pathMatches(pathname, c.path))
      .sort((a, b) => b.path.length - a.path.length);
    return matching.length ? matching.map((c) => `${c.name}=${c.value}`).join('; ') : undefined;
  }

  /** Remember the Set-Cookie headers of a response from this URL. */
  store(url: string | URL, setCookie: string | string[] | undefined): void {
    if (setCookie === undefined) return;
    const { hostname, pathname } = new URL(url);
    for (const line of Array.isArray(setCookie) ? setCookie : [setCookie]) {
      const cookie = parseSetCookie(line, hostname, defaultPath(pathname));
      if (!cookie) continue;
      this.#cookies = this.#cookies.filter((c) => !(c.name === cookie.name && c.host === cookie.host && c.path === cookie.path));
      if (cookie.expires === undefined || cookie.expires > Date.now()) this.#cookies.push(cookie);
    }
  }

  /** The value of a cookie by name (first match), for assertions. */
  get(name: string): string | undefined {
    return this.#cookies.find((c) => c.name === name)?.value;
  }

  clear(): void {
    this.#cookies = [];
  }
}

function parseSetCookie(line: string, host: string, path: string): StoredCookie | undefined {
  const [pair, ...attributes] = line.split(';');
  const eq = pair?.indexOf('=') ?? -1;
  if (!pair || eq <= 0) return undefined;
  const cookie: StoredCookie = { name: pair.slice(0, eq).trim(), value: pair.slice(eq + 1).trim(), host, path };
  for (const attribute of attributes) {
    const [key = '', ...rest] = attribute.split('=');
    const value = rest.join('=').trim();
    switch (key.trim().toLowerCase()) {
      case 'path':
        if (value.startsWith('/')) cookie.path = value;
        break;
      case 'max-age':
        cookie.expires = Date.now() + Number(value) * 1000;
        break;
      case 'expires':
        // Max-Age wins over Expires when both are present.
        if (!/max-age/i.test(line)) cookie.expires = Date.parse(value);
        break;
    }
  }
  return cookie;
}

function defaultPath(pathname: string): string {
  const slash = pathname.lastIndexOf('/');
  return slash <= 0 ? '/' : pathname.slice(0, slash);
}

function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}

export interface LoginOptions {
  username: string;
  password: string;
  /** the one-time code (123456 for the demo users with MFA) */
  otp?: string;
  /** keep the provider's session across calls (and share it with Portcullis's cookies) */
  cookieJar?: CookieJar;
}

/** The login form came back with an error instead of letting the person in. */
export class LoginRejected extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'LoginRejected';
    this.status = status;
  }
}

const MAX_STEPS = 20;

/**
 * Starts at an authorization URL (the provider's /auth, or any URL that redirects
 * there, such as Portcullis's login), follows redirects within the provider,
 * submits the login form when it appears, and returns the first redirect that
 * leaves the provider: the application's redirect_uri with code, state and iss
 * (or with error=...). Throws LoginRejected when the form refuses the credentials.
 */
export async function loginWithForm(authorizationUrl: string | URL, options: LoginOptions): Promise<URL> {
  return walkProvider(authorizationUrl, options.cookieJar ?? new CookieJar(), options);
}

/**
 * Follows a URL through the provider without logging in (for example the
 * end_session URL) and returns the first redirect that leaves it.
 */
export async function followProvider(url: string | URL, cookieJar: CookieJar = new CookieJar()): Promise<URL> {
  return walkProvider(url, cookieJar, undefined);
}

async function walkProvider(start: string | URL, jar: CookieJar, login: LoginOptions | undefined): Promise<URL> {
  let url = new URL(start);
  let method = 'GET';
  let body: string | undefined;
  let provider: string | undefined;
  let submittedLogin = false;

  for (let step = 0; step < MAX_STEPS; step++) {
    if (provider !== undefined && url.origin !== provider) return url;
    const cookie = jar.header(url);
    const res = await request(url, {
      method,
      headers: {
        accept: 'text/html',
        ...(cookie ? { cookie } : {}),
        ...(body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
      ...(body !== undefined ? { body } : {}),
    });
    jar.store(url, res.headers['set-cookie']);
    const location = res.headers.location;
    if (res.statusCode >= 300 && res.statusCode < 400 && typeof location === 'string') {
      await res.body.dump();
      const next = new URL(location, url);
      // The provider is the origin of /auth; anything before it (such as Portcullis's login) is followed too.
      if (provider === undefined && isProviderPath(next.pathname)) provider = next.origin;
      if (provider === undefined && isProviderPath(url.pathname)) provider = url.origin;
      url = next;
      method = 'GET';
      body = undefined;
      continue;
    }
    const page = await res.body.text();
    if (provider === undefined) provider = url.origin;
    const form = findForm(page);
    if (form?.fields.has('password') || page.includes('name="password"')) {
      if (!login) throw new Error(`the identity provider asked for a login at ${url.pathname}, but no credentials were given`);
      if (submittedLogin) throw new LoginRejected(res.statusCode, errorMessageOf(page) ?? `the login form came back (HTTP ${res.statusCode})`);
      submittedLogin = true;
      url = new URL(form?.action ?? url.href, url);
      method = 'POST';
      body = new URLSearchParams({ username: login.username, password: login.password, otp: login.otp ?? '' }).toString();
      continue;
    }
    if (form?.autoSubmit) {
      // oidc-provider's self-submitting forms (its logout step when another user signs in).
      url = new URL(form.action, url);
      method = 'POST';
      body = new URLSearchParams([...form.fields]).toString();
      continue;
    }
    throw new Error(`the identity provider answered HTTP ${res.statusCode} at ${url.pathname}: ${errorMessageOf(page) ?? page.slice(0, 200)}`);
  }
  throw new Error(`gave up after ${MAX_STEPS} steps through the identity provider`);
}

function isProviderPath(pathname: string): boolean {
  return pathname === '/auth' || pathname.startsWith('/auth/') || pathname.startsWith('/interaction/') || pathname.startsWith('/session/end');
}

interface FoundForm {
  action: string;
  fields: Map<string, string>;
  autoSubmit: boolean;
}

function findForm(page: string): FoundForm | undefined {
  const form = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(page);
  if (!form) return undefined;
  const action = attribute(form[1]!, 'action') ?? '';
  const fields = new Map<string, string>();
  for (const input of form[2]!.matchAll(/<input\b([^>]*)>/gi)) {
    const name = attribute(input[1]!, 'name');
    if (name) fields.set(name, attribute(input[1]!, 'value') ?? '');
  }
  return { action, fields, autoSubmit: /\.submit\(\)/.test(page) };
}

function attribute(tag: string, name: string): string | undefined {
  const match = new RegExp(`\\b${name}="([^"]*)"`, 'i').exec(tag);
  return match ? decodeEntities(match[1]!) : undefined;
}

function errorMessageOf(page: string): string | undefined {
  const match = /<p class="fail"[^>]*>([\s\S]*?)<\/p>/.exec(page) ?? /<h1>([\s\S]*?)<\/h1>\s*<p>([\s\S]*?)<\/p>/.exec(page);
  return match ? decodeEntities(match.slice(1).join(' ').replace(/<[^>]+>/g, '')) : undefined;
}

function decodeEntities(text: string): string {
  return text
    .replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code)))
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}
