// A scripted "browser" for integration tests: a cookie jar with Domain support,
// redirects followed by hand, and every host name resolved to 127.0.0.1 so
// tests can use real names (app.test, other.test) against loopback servers.
import { Agent, request, type Dispatcher } from 'undici';
import { loginWithForm, type CookieJar as IdpJar } from './idp.ts';

export const loopbackAgent = new Agent({
  connect: {
    lookup: ((_host: string, options: { all?: boolean }, cb: (err: Error | null, address: unknown, family?: number) => void) => {
      if (options?.all) cb(null, [{ address: '127.0.0.1', family: 4 }]);
      else cb(null, '127.0.0.1', 4);
    }) as never,
  },
});

interface Cookie {
  name: string;
  value: string;
  host: string;
  hostOnly: boolean;
  path: string;
  secure: boolean;
  expires?: number;
}

export class Jar {
  cookies: Cookie[] = [];

  header(url: URL): string | undefined {
    const now = Date.now();
    this.cookies = this.cookies.filter((c) => c.expires === undefined || c.expires > now);
    const host = url.hostname;
    const list = this.cookies.filter((c) => (c.hostOnly ? c.host === host : host === c.host || host.endsWith('.' + c.host)) && url.pathname.startsWith(c.path) && (!c.secure || url.protocol === 'https:'));
    return list.length ? list.map((c) => `${c.name}=${c.value}`).join('; ') : undefined;
  }

  store(url: URL, setCookie: string | string[] | undefined): void {
    if (!setCookie) return;
    for (const line of Array.isArray(setCookie) ? setCookie : [setCookie]) {
      const [pair = '', ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const c: Cookie = { name: pair.slice(0, eq).trim(), value: pair.slice(eq + 1).trim(), host: url.hostname, hostOnly: true, path: '/', secure: false };
      for (const a of attrs) {
        const [k = '', ...v] = a.split('=');
        const value = v.join('=').trim();
        const key = k.trim().toLowerCase();
        if (key === 'domain') {
          c.host = value.replace(/^\./, '').toLowerCase();
          c.hostOnly = false;
        } else if (key === 'path') c.path = value;
        else if (key === 'secure') c.secure = true;
        else if (key === 'max-age') c.expires = Date.now() + Number(value) * 1000;
      }
      this.cookies = this.cookies.filter((x) => !(x.name === c.name && x.host === c.host && x.path === c.path));
      if (c.expires === undefined || c.expires > Date.now()) this.cookies.push(c);
    }
  }

  get(name: string): string | undefined {
    return this.cookies.find((c) => c.name === name)?.value;
  }
}

export interface Page {
  url: URL;
  status: number;
  headers: Dispatcher.ResponseData['headers'];
  body: string;
  /** every URL visited, in order */
  trail: URL[];
}

export class Browser {
  readonly jar = new Jar();
  /** stop following redirects when they reach this origin (the identity provider) */
  readonly stopAtOrigin: string | undefined;

  constructor(stopAtOrigin?: string) {
    this.stopAtOrigin = stopAtOrigin;
  }

  async fetch(url: string | URL, init: { method?: string; body?: string; headers?: Record<string, string> } = {}): Promise<Dispatcher.ResponseData & { url: URL }> {
    const u = new URL(url);
    const cookie = this.jar.header(u);
    const res = await request(u, {
      dispatcher: loopbackAgent,
      method: (init.method ?? 'GET') as Dispatcher.HttpMethod,
      body: init.body,
      headers: { accept: 'text/html,application/xhtml+xml', ...(cookie ? { cookie } : {}), ...init.headers },
    });
    this.jar.store(u, res.headers['set-cookie']);
    return Object.assign(res, { url: u });
  }

  /** GET and follow redirects (up to 15), stopping at the identity provider's origin. */
  async open(url: string | URL, init: { method?: string; body?: string; headers?: Record<string, string> } = {}): Promise<Page> {
    let u = new URL(url);
    const trail: URL[] = [];
    let first = true;
    for (let i = 0; i < 15; i++) {
      trail.push(u);
      if (this.stopAtOrigin && u.origin === this.stopAtOrigin) return { url: u, status: 0, headers: {}, body: '', trail };
      const res = await this.fetch(u, first ? init : {});
      first = false;
      const location = res.headers.location;
      if (res.statusCode >= 300 && res.statusCode < 400 && typeof location === 'string') {
        await res.body.dump();
        u = new URL(location, u);
        continue;
      }
      return { url: u, status: res.statusCode, headers: res.headers, body: await res.body.text(), trail };
    }
    throw new Error(`too many redirects: ${trail.map(String).join(' -> ')}`);
  }

  /**
   * Open a protected URL, sign in at the identity provider with the form, and come back.
   * Returns the page Portcullis finally served.
   */
  async signIn(url: string | URL, user: { username: string; password: string; otp?: string }, idpJar?: IdpJar): Promise<Page> {
    const atIdp = await this.open(url);
    if (!this.stopAtOrigin || atIdp.url.origin !== this.stopAtOrigin) return atIdp;
    const callback = await loginWithForm(atIdp.url, { ...user, cookieJar: idpJar });
    return this.open(callback);
  }
}
