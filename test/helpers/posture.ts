// A stand-in device-trust service for tests: real key pairs generated per test run
// (never committed), a real JWKS served by node:http on 127.0.0.1:0, and a signer
// for posture tokens. Any test that needs a device with posture can use it.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';

export type IssuerAlg = 'ES256' | 'RS256' | 'EdDSA';

export interface IssuerKey {
  readonly kid: string;
  readonly alg: IssuerAlg;
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  readonly publicJwk: JWK;
}

export interface SignOptions {
  /** which published key signs (default: the first ES256 key) */
  readonly kid?: string;
  readonly alg?: IssuerAlg;
  /** put this kid in the header instead of the signing key's */
  readonly headerKid?: string | null;
  /** seconds since the epoch; null leaves the claim out */
  readonly iat?: number | null;
  readonly exp?: number | null;
  readonly nbf?: number;
  readonly issuer?: string;
  readonly audience?: string;
  /** extra protected header parameters (jku, x5u, jwk...) */
  readonly header?: Record<string, unknown>;
  /** the clock the token is issued at, in ms (default: Date.now()) */
  readonly nowMs?: number;
}

/** How the JWKS endpoint behaves: serve keys, fail in one of the ways a real one can. */
export type JwksMode = 'serve' | 'not-json' | 'not-a-jwks' | 'status-500' | 'hang';

export interface PostureIssuer {
  readonly jwksUrl: string;
  readonly issuer: string;
  readonly audience: string;
  /** every key pair, published or not */
  readonly keys: IssuerKey[];
  sign(claims: Record<string, unknown>, opts?: SignOptions): Promise<string>;
  /** generate a key; published in the JWKS unless publish is false */
  addKey(alg: IssuerAlg, opts?: { publish?: boolean; kid?: string }): Promise<IssuerKey>;
  setMode(mode: JwksMode): void;
  /** how many times the JWKS was requested */
  readonly fetches: () => number;
  close(): Promise<void>;
}

const ISSUER = 'https://mdm.test.example';
const AUDIENCE = 'portcullis';

export async function createPostureIssuer(opts: { algs?: IssuerAlg[] } = {}): Promise<PostureIssuer> {
  const keys: IssuerKey[] = [];
  const published = new Set<string>();
  let mode: JwksMode = 'serve';
  let fetches = 0;
  const hanging = new Set<http.ServerResponse>();

  const server = http.createServer((req, res) => {
    fetches++;
    if (mode === 'hang') {
      hanging.add(res);
      return;
    }
    if (mode === 'status-500') {
      res.writeHead(500).end('oops');
      return;
    }
    const body =
      mode === 'not-json' ? '<html>maintenance</html>' : mode === 'not-a-jwks' ? JSON.stringify({ hello: 'world' }) : JSON.stringify({ keys: keys.filter((k) => published.has(k.kid)).map((k) => k.publicJwk) });
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;

  async function addKey(alg: IssuerAlg, o: { publish?: boolean; kid?: string } = {}): Promise<IssuerKey> {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    const kid = o.kid ?? `${alg.toLowerCase()}-${keys.length + 1}`;
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
    const key = { kid, alg, privateKey, publicKey, publicJwk };
    keys.push(key);
    if (o.publish !== false) published.add(kid);
    return key;
  }
  for (const alg of opts.algs ?? ['ES256', 'RS256', 'EdDSA']) await addKey(alg);

  return {
    jwksUrl: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    issuer: ISSUER,
    audience: AUDIENCE,
    keys,
    addKey,
    setMode: (m) => {
      mode = m;
    },
    fetches: () => fetches,
    async sign(claims, o = {}) {
      const key = o.kid ? keys.find((k) => k.kid === o.kid) : keys.find((k) => k.alg === (o.alg ?? 'ES256'));
      if (!key) throw new Error(`no issuer key ${o.kid ?? o.alg}`);
      const now = Math.floor((o.nowMs ?? Date.now()) / 1000);
      const header: Record<string, unknown> = { alg: key.alg, typ: 'JWT', ...o.header };
      if (o.headerKid !== null) header.kid = o.headerKid ?? key.kid;
      const jwt = new SignJWT(claims).setProtectedHeader(header as { alg: string }).setIssuer(o.issuer ?? ISSUER).setAudience(o.audience ?? AUDIENCE);
      if (o.iat !== null) jwt.setIssuedAt(o.iat ?? now);
      if (o.exp !== null) jwt.setExpirationTime(o.exp ?? now + 3600);
      if (o.nbf !== undefined) jwt.setNotBefore(o.nbf);
      return jwt.sign(key.privateKey);
    },
    close: () =>
      new Promise<void>((r) => {
        for (const res of hanging) res.destroy();
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
