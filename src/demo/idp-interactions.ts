// The demo provider's login and consent steps: plain node:http routes under
// /interaction/<uid> that read the pending authorization request from
// oidc-provider and hand it back a result.
//
//   GET  /interaction/<uid>[?as=<user>]  login form (or, for consent, an automatic grant)
//   POST /interaction/<uid>/login        check the credentials, finish with acr/amr
//   GET  /interaction/<uid>/abort        the person cancelled: access_denied to the app
import type { IncomingMessage, ServerResponse } from 'node:http';
import type Provider from 'oidc-provider';
import type { InteractionResults } from 'oidc-provider';
import { decideLogin, mfaRequested, type DemoUser } from './idp-users.ts';
import { idpPageHeaders, renderIdpErrorPage, renderLoginPage } from './idp-pages.ts';

type Interaction = Awaited<ReturnType<Provider['interactionDetails']>>;

export interface InteractionDeps {
  readonly provider: Provider;
  readonly users: readonly DemoUser[];
  readonly isDisabled: (id: string) => boolean;
  /** client_id -> name shown on the login page */
  readonly clientName: (clientId: string) => string;
  /** unexpected failures; the person sees a generic page */
  readonly onError: (err: unknown) => void;
}

const MAX_FORM_BYTES = 8 * 1024;

/** Handles the request if it is an interaction route; returns false otherwise. */
export function createInteractionRoutes(deps: InteractionDeps) {
  return async function handleInteraction(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const url = new URL(req.url ?? '/', 'http://idp.invalid');
    const match = /^\/interaction\/([\w-]+)(\/login|\/abort)?$/.exec(url.pathname);
    if (!match) return false;
    const [, uid, action] = match;
    try {
      const interaction = await deps.provider.interactionDetails(req, res);
      if (interaction.uid !== uid) {
        sendPage(res, 400, renderIdpErrorPage({ status: 400, title: 'This sign-in page is out of date', hint: 'Another sign-in was started in this browser since. Go back to the application and start again.' }));
        return true;
      }
      if (action === '/abort' && req.method === 'GET') {
        await deps.provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'The person cancelled the sign-in.' }, { mergeWithLastSubmission: false });
      } else if (action === '/login' && req.method === 'POST') {
        await submitLogin(deps, interaction, req, res);
      } else if (action === undefined && (req.method === 'GET' || req.method === 'HEAD')) {
        if (interaction.prompt.name === 'login') showLogin(deps, interaction, res, prefillFor(deps.users, url.searchParams.get('as'), interaction));
        else await grantAutomatically(deps.provider, interaction, req, res);
      } else {
        sendPage(res, 405, renderIdpErrorPage({ status: 405, title: 'Method not allowed', hint: 'Use the sign-in form.' }), { allow: action === '/login' ? 'POST' : 'GET' });
      }
    } catch (err) {
      const [status, page] = describeInteractionError(err);
      if (status >= 500) deps.onError(err);
      if (!res.headersSent) sendPage(res, status, page);
      else res.destroy();
    }
    return true;
  };
}

interface FormValues {
  username: string;
  password: string;
  otp: string;
  error?: string;
}

/** `?as=<user>` fills the form in; the code too when the application asked for MFA. */
function prefillFor(users: readonly DemoUser[], id: string | null, interaction: Interaction): FormValues {
  const user = id ? users.find((u) => u.id === id) : undefined;
  if (!user) return { username: '', password: '', otp: '' };
  const wantsCode = mfaRequested(asString(interaction.params.acr_values));
  return { username: user.id, password: user.password, otp: wantsCode ? (user.otp ?? '') : '' };
}

function showLogin(deps: InteractionDeps, interaction: Interaction, res: ServerResponse, values: FormValues, status = 200): void {
  const { uid, params, session } = interaction;
  const clientId = String(params.client_id ?? '');
  const redirectUri = typeof params.redirect_uri === 'string' ? params.redirect_uri : undefined;
  const username = values.username || session?.accountId || (typeof params.login_hint === 'string' ? params.login_hint : '');
  const page = renderLoginPage({
    clientName: deps.clientName(clientId),
    action: `/interaction/${uid}/login`,
    pageUrl: `/interaction/${uid}`,
    cancelUrl: `/interaction/${uid}/abort`,
    users: deps.users,
    username,
    password: values.password,
    otp: values.otp,
    reauthenticate: session?.accountId !== undefined,
    mfaRequested: mfaRequested(asString(params.acr_values)),
    ...(values.error === undefined ? {} : { error: values.error }),
  });
  sendPage(res, status, page, {}, redirectUri ? [redirectUri] : []);
}

async function submitLogin(deps: InteractionDeps, interaction: Interaction, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (interaction.prompt.name !== 'login') {
    await grantAutomatically(deps.provider, interaction, req, res);
    return;
  }
  const form = await readForm(req);
  const attempt = { username: form.get('username') ?? '', password: form.get('password') ?? '', otp: form.get('otp') ?? '' };
  const outcome = decideLogin(deps.users, attempt, {
    mfaRequested: mfaRequested(asString(interaction.params.acr_values)),
    isDisabled: deps.isDisabled,
  });
  if (!outcome.ok) {
    // The password is not sent back; the username is, so a typo is easy to fix.
    showLogin(deps, interaction, res, { username: attempt.username, password: '', otp: '', error: outcome.message }, 401);
    return;
  }
  const result: InteractionResults = {
    login: { accountId: outcome.user.id, acr: outcome.acr, amr: outcome.amr, remember: true },
  };
  await deps.provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
}

/**
 * Demo applications are first-party: grant whatever they asked for, with no consent page.
 * (The same pattern as oidc-provider's own consent example, minus the question.)
 */
async function grantAutomatically(provider: Provider, interaction: Interaction, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { prompt, params, session, grantId } = interaction;
  if (prompt.name !== 'consent' || !session) {
    throw new Error(`the demo identity provider has no page for the "${prompt.name}" prompt`);
  }
  const grant = grantId ? await provider.Grant.find(grantId) : new provider.Grant({ accountId: session.accountId, clientId: String(params.client_id) });
  if (!grant) throw new Error('the grant of this sign-in has expired');
  const details = prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
  if (details.missingOIDCScope) grant.addOIDCScope(details.missingOIDCScope.join(' '));
  if (details.missingOIDCClaims) grant.addOIDCClaims(details.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(details.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const savedGrantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: grantId ? {} : { grantId: savedGrantId } }, { mergeWithLastSubmission: true });
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) throw new FormTooLarge();
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

class FormTooLarge extends Error {}

function describeInteractionError(err: unknown): [number, string] {
  if (err instanceof FormTooLarge) {
    return [413, renderIdpErrorPage({ status: 413, title: 'Form too large', hint: 'The sign-in form sent more data than it can hold. Go back and try again.' })];
  }
  // oidc-provider's SessionNotFound: the interaction cookie is missing or the interaction expired.
  if (err instanceof Error && err.name === 'SessionNotFound') {
    return [400, renderIdpErrorPage({ status: 400, title: 'This sign-in has expired', hint: 'The sign-in page was open too long, or cookies are blocked for this site. Go back to the application and start again.' })];
  }
  return [500, renderIdpErrorPage({ status: 500, title: 'The demo identity provider failed', hint: 'Something went wrong while signing you in. The log has the details; go back to the application and try again.' })];
}

function sendPage(res: ServerResponse, status: number, page: string, extraHeaders: Record<string, string> = {}, formTargets: readonly string[] = []): void {
  res.writeHead(status, { ...idpPageHeaders(formTargets), ...extraHeaders, 'content-length': Buffer.byteLength(page) });
  res.end(res.req.method === 'HEAD' ? undefined : page);
}

function asString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
