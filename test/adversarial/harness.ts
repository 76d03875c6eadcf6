// The target every adversarial test attacks: the demo identity provider, a recording
// upstream and Portcullis in front of it, over real sockets, with one real signed-in
// session (alice) to attack from the inside. Raw requests are written byte for byte,
// so the tests say exactly what went over the wire.
import { startLoginEnv, alice, type LoginEnv, type LoginEnvOptions } from '../helpers/login-env.ts';
import { parseRawResponse, rawRequest, type Upstream } from '../helpers/servers.ts';

/** Protected app with a deny rule on /admin, a public route, and a route open only to 10/8. */
export const adversarialRoutes = `
  - name: app
    from: http://app.test
    to: \${UPSTREAM}
    policy: { allow: [ { authenticated: true } ], deny: [ { paths: [/admin] } ] }
    headers: { X-Remote-User: "{email}" }
  - name: corp
    from: http://corp.test
    to: \${UPSTREAM}
    policy: { allow: [ { network: [10.0.0.0/8] } ] }
  - name: public
    from: http://public.test
    to: \${UPSTREAM}
    public: true`;

export interface Target {
  readonly env: LoginEnv;
  readonly upstream: Upstream;
  readonly port: number;
  /** "portcullis=TICKET", valid on app.test (and corp.test) for alice */
  readonly cookie: string;
  /** what the upstream must see as X-Forwarded-User for alice */
  readonly user: string;
  readonly email: string;
  stop(): Promise<void>;
}

export async function startTarget(options: LoginEnvOptions = {}): Promise<Target> {
  const env = await startLoginEnv({ routes: adversarialRoutes, ...options });
  const browser = env.browser();
  const page = await browser.signIn(env.appUrl('/'), alice);
  if (page.status !== 200) throw new Error(`sign-in failed: HTTP ${page.status}`);
  const ticket = browser.jar.get('portcullis');
  if (!ticket) throw new Error('no session cookie after sign-in');
  return { env, upstream: env.upstream, port: env.port, cookie: `portcullis=${ticket}`, user: 'alice', email: 'alice@example.com', stop: () => env.stop() };
}

export interface RawReply {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly raw: string;
  /** requests the upstream received while this one ran */
  readonly upstream: Upstream['received'];
}

/** Write a request exactly as given, over a fresh connection, and record what reached the upstream meanwhile. */
export async function raw(t: { port: number; upstream: Upstream }, text: string | Buffer, quietMs = 150): Promise<RawReply> {
  const before = t.upstream.received.length;
  const reply = await rawRequest(t.port, text, quietMs);
  const parsed = parseRawResponse(reply);
  return { ...parsed, raw: reply, upstream: t.upstream.received.slice(before) };
}

/** One GET with the given request-target and extra header lines; closes the connection. */
export function get(t: Target, target: string, headerLines: string[] = [], host = 'app.test', withSession = true): Promise<RawReply> {
  const lines = [`GET ${target} HTTP/1.1`, `Host: ${host}`, ...(withSession ? [`Cookie: ${t.cookie}`] : []), 'Accept: application/json', ...headerLines, 'Connection: close'];
  return raw(t, lines.join('\r\n') + '\r\n\r\n');
}

/** The path as a lenient upstream would read it: percent-decoded (twice), without parameters or case. */
export function lenientPath(url: string): string {
  let p = url.split('?')[0]!.split('#')[0]!;
  for (let i = 0; i < 2; i++) {
    try {
      p = decodeURIComponent(p);
    } catch {
      break;
    }
  }
  return p.replace(/\\/g, '/').replace(/;[^/]*/g, '').replace(/\/+/g, '/').normalize('NFKC');
}

/** Would an upstream that decodes, strips ;params and folds compatibility characters serve /admin for this URL? */
export function reachesAdmin(url: string): boolean {
  const segments: string[] = [];
  for (const s of lenientPath(url).split('/')) {
    if (s === '' || s === '.') continue;
    if (s === '..') segments.pop();
    else segments.push(s);
  }
  return segments[0] === 'admin';
}
