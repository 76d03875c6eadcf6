// The identity provider built into the zero-config demo, and the real provider
// Portcullis's tests sign in through: oidc-provider on loopback, with a login
// page of its own, demo users, MFA step-up, refresh tokens, RP-initiated and
// back-channel logout.
//
// Evaluation only. Keys and sessions live in memory and die with the process,
// the passwords are printed on the login page, and outbound requests may reach
// loopback (see loopbackFetch).
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import Provider, { interactionPolicy, type ClientMetadata, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
// @ts-expect-error: oidc-provider ships no types for this module; see skipLogoutConfirmation.
import { confirm as endSessionConfirmSteps } from 'oidc-provider/lib/actions/end_session.js';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import { acrStepUpNeeded, defaultDemoUsers, demoAcrValues, type DemoUser } from './idp-users.ts';
import { createInteractionRoutes } from './idp-interactions.ts';
import { createDemoIdpStore } from './idp-store.ts';
import { idpPageHeaders, renderIdpErrorPage, renderLogoutConfirmPage, renderSignedOutPage } from './idp-pages.ts';

export { ACR_MFA, ACR_PASSWORD, DEMO_OTP, defaultDemoUsers, type DemoUser } from './idp-users.ts';

export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'none';

/** An application registered with the demo provider (OIDC client metadata). */
export interface DemoClient {
  client_id: string;
  client_name?: string;
  client_secret?: string;
  /** default client_secret_basic */
  token_endpoint_auth_method?: ClientAuthMethod;
  /** public keys for private_key_jwt */
  jwks?: { keys: JWK[] };
  redirect_uris: string[];
  post_logout_redirect_uris?: string[];
  backchannel_logout_uri?: string;
  backchannel_logout_session_required?: boolean;
  /** default ES256 */
  id_token_signed_response_alg?: 'ES256' | 'RS256';
}

export interface DemoIdpLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface DemoIdpOptions {
  /** default 127.0.0.1; the issuer is http://<host>:<port> */
  host?: string;
  /** the issuer when clients reach the provider by another name than host, such as http://idp:8092 in a container network */
  issuer?: string;
  /** 0 (the default) picks a free port */
  port?: number;
  clients: DemoClient[];
  /** default: alice, bob, carol and mallory (see idp-users.ts) */
  users?: readonly DemoUser[];
  /** seconds; default 600 */
  accessTokenTtl?: number;
  /** seconds; default 3600 */
  idTokenTtl?: number;
  /** seconds; default 86400 */
  refreshTokenTtl?: number;
  /** seconds an IdP session lasts; default 86400 */
  sessionTtl?: number;
  /** default: one JSON line on stderr per problem */
  log?: DemoIdpLogger;
}

export interface DemoIdp {
  /** http://127.0.0.1:PORT, exactly as discovery reports it */
  readonly issuer: string;
  readonly port: number;
  readonly provider: Provider;
  readonly users: readonly DemoUser[];
  /** Later sign-ins, userinfo and refresh-token grants for this account fail (invalid_grant). */
  disableUser(accountId: string): void;
  enableUser(accountId: string): void;
  /** Deletes every grant of this account: its refresh and access tokens stop working. Returns how many. */
  revokeGrants(accountId: string): Promise<number>;
  /**
   * The provider's private signing keys (JWK). Tests only: they forge provider-signed
   * tokens (such as back-channel logout tokens) to check what Portcullis refuses.
   */
  readonly signingKeys: readonly JWK[];
  close(): Promise<void>;
}

const defaultLog: DemoIdpLogger = {
  warn: (obj, msg) => process.stderr.write(`${JSON.stringify({ level: 'warn', service: 'demo-idp', msg, ...obj })}\n`),
  error: (obj, msg) => process.stderr.write(`${JSON.stringify({ level: 'error', service: 'demo-idp', msg, ...obj })}\n`),
};

export async function startDemoIdp(opts: DemoIdpOptions): Promise<DemoIdp> {
  const host = opts.host ?? '127.0.0.1';
  const users = Object.freeze([...(opts.users ?? defaultDemoUsers)]);
  const log = opts.log ?? defaultLog;
  const disabled = new Set<string>();
  const grantsByAccount = new Map<string, Set<string>>();

  // The issuer must contain the port, so listen first and build the provider after.
  let handle: http.RequestListener = (_req, res) => {
    res.writeHead(503).end();
  };
  const server = http.createServer((req, res) => handle(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const issuer = opts.issuer ?? `http://${host}:${port}`;

  const clientNames = new Map(opts.clients.map((c) => [c.client_id, c.client_name ?? c.client_id]));
  const signingKeys = await freshSigningKeys();
  const provider = new Provider(issuer, await providerConfiguration(opts, users, disabled, signingKeys));
  provider.on('server_error', (_ctx: unknown, err: Error) => log.error({ err: describeError(err) }, 'demo identity provider: internal error'));
  provider.on('backchannel.error', (_ctx: unknown, err: Error, client: { clientId: string }) =>
    log.warn({ client_id: client.clientId, err: describeError(err) }, 'demo identity provider: back-channel logout delivery failed'),
  );
  provider.on('grant.saved', (grant: { jti: string; accountId?: string }) => {
    if (!grant.accountId) return;
    let ids = grantsByAccount.get(grant.accountId);
    if (!ids) grantsByAccount.set(grant.accountId, (ids = new Set()));
    ids.add(grant.jti);
  });

  const interactions = createInteractionRoutes({
    provider,
    users,
    isDisabled: (id) => disabled.has(id),
    clientName: (id) => clientNames.get(id) ?? id,
    onError: (err) => log.error({ err: describeError(err) }, 'demo identity provider: sign-in step failed'),
  });
  const providerHandler = provider.callback();
  handle = (req, res) => {
    interactions(req, res).then(
      (handled) => {
        if (!handled) providerHandler(req, res);
      },
      (err: unknown) => {
        log.error({ err: describeError(err) }, 'demo identity provider: request failed');
        if (!res.headersSent) res.writeHead(500).end();
        else res.destroy();
      },
    );
  };

  return {
    issuer,
    port,
    provider,
    users,
    signingKeys: Object.freeze(signingKeys.map((k) => Object.freeze({ ...k }))),
    disableUser: (id) => void disabled.add(id),
    enableUser: (id) => void disabled.delete(id),
    async revokeGrants(accountId) {
      const ids = [...(grantsByAccount.get(accountId) ?? [])];
      grantsByAccount.delete(accountId);
      let revoked = 0;
      for (const id of ids) {
        const grant = await provider.Grant.find(id);
        if (grant) {
          await grant.destroy();
          revoked++;
        }
      }
      return revoked;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function providerConfiguration(opts: DemoIdpOptions, users: readonly DemoUser[], disabled: ReadonlySet<string>, signingKeys: readonly JWK[]): Promise<Configuration> {
  const byId = new Map(users.map((u) => [u.id, u]));
  return {
    adapter: createDemoIdpStore(),
    clients: opts.clients.map(toClientMetadata),
    jwks: { keys: signingKeys.map((k) => ({ ...k })) },
    cookies: {
      // Fresh per start: nothing signed by an earlier run is accepted. Own names,
      // because every loopback port shares one cookie jar with Portcullis and the demo app.
      keys: [randomBytes(32).toString('base64url')],
      names: { session: 'demo_idp_session', interaction: 'demo_idp_interaction', resume: 'demo_idp_resume' },
      long: { httpOnly: true, sameSite: 'lax' },
      short: { httpOnly: true, sameSite: 'lax' },
    },
    responseTypes: ['code'],
    pkce: { required: () => true },
    clientDefaults: {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'ES256',
    },
    acrValues: demoAcrValues,
    scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
    claims: {
      // acr and amr only reach the ID token when a scope lists them.
      openid: ['sub', 'acr', 'amr', 'auth_time', 'sid'],
      email: ['email', 'email_verified'],
      // groups come with profile too, so a relying party asking only for
      // "openid email profile" still learns them.
      profile: ['name', 'groups'],
      groups: ['groups'],
    },
    // Put the scope's claims in the ID token, not only in userinfo: Portcullis
    // decides on the ID token alone.
    conformIdTokenClaims: false,
    async findAccount(_ctx, sub) {
      const user = byId.get(sub);
      // A disabled account is an unknown account: refresh and userinfo then fail with invalid_grant / invalid_token.
      if (!user || disabled.has(sub)) return undefined;
      return {
        accountId: user.id,
        claims: () => ({ sub: user.id, email: user.email, email_verified: user.email_verified, name: user.name, groups: [...user.groups] }),
      };
    },
    interactions: {
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
      policy: demoInteractionPolicy(),
    },
    // Refresh tokens for every client allowed the grant, without offline_access
    // and prompt=consent; they end with the IdP session (expiresWithSession).
    issueRefreshToken: (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: true,
    ttl: {
      AccessToken: opts.accessTokenTtl ?? 600,
      AuthorizationCode: 60,
      IdToken: opts.idTokenTtl ?? 3600,
      RefreshToken: opts.refreshTokenTtl ?? 86_400,
      Interaction: 3600,
      Session: opts.sessionTtl ?? 86_400,
      Grant: opts.sessionTtl ?? 86_400,
    },
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: skipLogoutConfirmation,
        postLogoutSuccessSource(ctx) {
          const client = ctx.oidc.client;
          sendKoaPage(ctx, renderSignedOutPage(client ? (client.clientName ?? client.clientId) : undefined));
        },
      },
    },
    renderError(ctx, out) {
      const status = ctx.status;
      sendKoaPage(
        ctx,
        renderIdpErrorPage({
          status,
          title: status >= 500 ? 'The demo identity provider failed' : 'This sign-in request was refused',
          ...(typeof out.error_description === 'string' ? { detail: out.error_description } : {}),
          hint: 'Go back to the application and start again. If this keeps happening, the application’s OpenID Connect settings do not match this provider’s.',
          code: String(out.error),
        }),
      );
    },
    fetch: loopbackFetch,
  };
}

/**
 * The default login prompt, plus one check: the application asked (acr_values)
 * for a level the session does not have, so the person authenticates again.
 * prompt=login and max_age already force a new login in oidc-provider.
 */
function demoInteractionPolicy() {
  const policy = interactionPolicy.base();
  const login = policy.get('login')!;
  login.checks.add(
    new interactionPolicy.Check('acr_values_unmet', 'a stronger authentication was requested', 'login_required', (ctx) => {
      const { oidc } = ctx;
      if (oidc.result?.login) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
      const acrValues = typeof oidc.params?.acr_values === 'string' ? oidc.params.acr_values : undefined;
      return acrStepUpNeeded(acrValues, oidc.session?.acr) ? interactionPolicy.Check.REQUEST_PROMPT : interactionPolicy.Check.NO_NEED_TO_PROMPT;
    }),
  );
  login.checks.add(
    // The session belongs to an account that has since been disabled.
    new interactionPolicy.Check('account_unavailable', 'the signed-in account is no longer available', 'login_required', (ctx) => {
      const { oidc } = ctx;
      return oidc.session?.accountId && !oidc.account && !oidc.result?.login
        ? interactionPolicy.Check.REQUEST_PROMPT
        : interactionPolicy.Check.NO_NEED_TO_PROMPT;
    }),
  );
  return policy;
}

const confirmLogout = (endSessionConfirmSteps as unknown[]).at(-1);
if (typeof confirmLogout !== 'function') {
  throw new Error('oidc-provider changed the shape of its end_session confirm steps; update src/demo/idp.ts (skipLogoutConfirmation)');
}

/**
 * RP-initiated logout without the "do you want to sign out?" form when the request
 * names a known application (id_token_hint or client_id): every client of the
 * demo is first-party. This runs oidc-provider's own confirm step, as if the
 * person had pressed "Yes, sign me out", so back-channel logout, grant revocation
 * and the redirect to post_logout_redirect_uri behave exactly as usual.
 * A bare logout request (no application named) still shows the form.
 */
async function skipLogoutConfirmation(ctx: KoaContextWithOIDC, form: string): Promise<void> {
  if (ctx.oidc.client && ctx.oidc.params) {
    ctx.oidc.params.logout = 'yes';
    await (confirmLogout as (ctx: KoaContextWithOIDC) => Promise<void>)(ctx);
    return;
  }
  sendKoaPage(ctx, renderLogoutConfirmPage(form));
}

function sendKoaPage(ctx: KoaContextWithOIDC, page: string): void {
  ctx.set(idpPageHeaders());
  ctx.type = 'html';
  ctx.body = page;
}

/**
 * oidc-provider refuses outbound connections to loopback and private addresses
 * (its SSRF guard, passed in as `dispatcher`). The demo's back-channel logout
 * targets Portcullis on 127.0.0.1, so this provider drops that guard. Acceptable
 * only because this provider is for evaluation and tests and its clients are
 * fixed at start-up; never copy this into a production provider.
 */
function loopbackFetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
  const { dispatcher: _ssrfGuard, ...rest } = (init ?? {}) as RequestInit & { dispatcher?: unknown };
  return fetch(input, rest);
}

function toClientMetadata(client: DemoClient): ClientMetadata {
  const metadata: ClientMetadata = { ...client };
  if (client.token_endpoint_auth_method === 'none' || client.token_endpoint_auth_method === 'private_key_jwt') {
    delete metadata.client_secret;
  }
  return metadata;
}

async function freshSigningKeys(): Promise<JWK[]> {
  const keys: JWK[] = [];
  for (const alg of ['ES256', 'RS256'] as const) {
    const { privateKey } = await generateKeyPair(alg, { extractable: true });
    const jwk = await exportJWK(privateKey);
    keys.push({ ...jwk, alg, use: 'sig', kid: await calculateJwkThumbprint(jwk) });
  }
  return keys;
}

function describeError(err: unknown): { name: string; message: string } {
  return err instanceof Error ? { name: err.name, message: err.message } : { name: 'Error', message: String(err) };
}
