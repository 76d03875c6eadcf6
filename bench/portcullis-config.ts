// Pure: the Portcullis configuration of each benchmark row, as YAML text. Every row
// forwards the same route (http://app.bench -> the shared upstream) with the access
// log on, as in production; the rows differ only in what one request has to check.

export const BENCH_HOST = 'app.bench';

export interface Listeners {
  readonly port: number;
  readonly opsPort: number;
}

export interface SignInSettings {
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly cookieSecret: string;
  /** PEM private key for identity.assertion.signing_keys */
  readonly signingKeyFile: string;
}

export type SessionStoreChoice = { readonly store: 'memory' } | { readonly store: 'redis'; readonly url: string; readonly keyPrefix: string };

/** The full policy: identity, network, time and a signed device posture, all checked on every request. */
export interface FullPolicy {
  /** PEM (SPKI) public key of the bench's stand-in device-trust service */
  readonly postureKeyFile: string;
  readonly postureIssuer: string;
  readonly postureAudience: string;
}

export interface ProtectedRow {
  readonly session: SessionStoreChoice;
  readonly policy: 'authenticated' | FullPolicy;
  readonly workers?: 'auto' | number;
  /** session.cache_ttl, such as "1s" */
  readonly sessionCache?: string;
  /** redis.command_timeout, such as "30s" (default Portcullis's own) */
  readonly redisCommandTimeout?: string;
}

function head({ port, opsPort }: Listeners, publicUrl: string): string {
  return `# written by bench/portcullis-config.ts
listen: { address: "127.0.0.1:${port}" }
ops: { address: "127.0.0.1:${opsPort}" }
public_url: ${publicUrl}
limits: { shutdown_timeout: 2s }
log: { level: info, access_log: true }
`;
}

export function publicRouteConfig(listeners: Listeners, upstreamUrl: string): string {
  return `${head(listeners, 'http://access.bench')}routes:
  - name: public
    from: http://${BENCH_HOST}
    to: ${upstreamUrl}
    public: true
`;
}

export function protectedRouteConfig(listeners: Listeners, upstreamUrl: string, signIn: SignInSettings, row: ProtectedRow): string {
  const lines = [head(listeners, `http://127.0.0.1:${listeners.port}`)];
  if (row.workers !== undefined) lines.push(`workers: ${row.workers}\n`);
  lines.push(`identity_provider:
  issuer: ${signIn.issuer}
  client_id: ${signIn.clientId}
  client_secret: ${signIn.clientSecret}
  scopes: [openid, email, profile, groups]
  insecure_allow_http: true
cookie:
  secret: ${signIn.cookieSecret}
  insecure_allow_http: true
identity:
  assertion: { signing_keys: [${JSON.stringify(signIn.signingKeyFile)}] }
`);
  // A row may set the in-process session cache (default 1s); BENCH_SESSION_CACHE sets it for every other row.
  const ttl = row.sessionCache ?? process.env.BENCH_SESSION_CACHE;
  const cache = ttl ? `, cache_ttl: ${ttl}` : '';
  if (row.session.store === 'redis') {
    lines.push(`session: { store: redis${cache} }
redis: { url: "${row.session.url}", key_prefix: "${row.session.keyPrefix}"${row.redisCommandTimeout ? `, command_timeout: ${row.redisCommandTimeout}` : ''} }
`);
  } else {
    lines.push(`session: { store: memory${cache} }\n`);
  }
  let policy = '{ allow: [ { authenticated: true } ] }';
  if (row.policy !== 'authenticated') {
    lines.push(`networks:
  loopback: [127.0.0.0/8]
device_posture:
  keys: [${JSON.stringify(row.policy.postureKeyFile)}]
  issuer: ${row.policy.postureIssuer}
  audience: ${row.policy.postureAudience}
  max_age: 1h
policies:
  full:
    allow:
      - groups: [engineering]
        network: [loopback]
        # the whole day, every day: the bench measures the check, not the clock
        time: { days: [mon, tue, wed, thu, fri, sat, sun], hours: "00:00-24:00", timezone: UTC }
        device: { managed: true }
`);
    policy = 'full';
  }
  lines.push(`routes:
  - name: app
    from: http://${BENCH_HOST}
    to: ${upstreamUrl}
    policy: ${policy}
`);
  return lines.join('');
}
