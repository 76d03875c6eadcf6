// Pages of the demo identity provider, drawn with Portcullis's own page helpers
// so they share its look and its Content-Security-Policy (one hashed stylesheet,
// no scripts, nothing loaded from elsewhere).
import { html, raw, renderPage, type Html } from '../pages/html.ts';
import { pageSecurityHeaders } from '../pages/style.ts';
import type { DemoUser } from './idp-users.ts';

const loginNote = html`<p class="note"><strong>Evaluation only.</strong> This is the identity provider built into the Portcullis demo; its accounts are public and listed below. Connect Portcullis to your company's identity provider before protecting anything real.</p>`;

const evaluationNote = html`<p class="note"><strong>Evaluation only.</strong> This is the identity provider built into the Portcullis demo. Connect Portcullis to your company's identity provider before protecting anything real.</p>`;

const footer = html`Portcullis demo identity provider · not for production use`;

const loginFooter = html`Password only: <code>acr</code> …:pwd, <code>amr</code> pwd. Password and one-time code: <code>acr</code> …:mfa, <code>amr</code> pwd otp mfa, which applications can demand with <code>acr_values</code>.<br>${footer}`;

export interface LoginPageInput {
  /** the application the person is signing in to */
  readonly clientName: string;
  /** where the form posts */
  readonly action: string;
  /** the interaction page itself; `?as=<user>` fills the form in */
  readonly pageUrl: string;
  readonly cancelUrl: string;
  readonly users: readonly DemoUser[];
  readonly username: string;
  readonly password: string;
  readonly otp: string;
  /** someone is already signed in and must authenticate again */
  readonly reauthenticate: boolean;
  /** the application asked for the MFA level */
  readonly mfaRequested: boolean;
  readonly error?: string;
}

export function renderLoginPage(input: LoginPageInput): string {
  const { reauthenticate, mfaRequested } = input;
  const title = mfaRequested ? 'Verify it’s you' : reauthenticate ? 'Sign in again' : 'Sign in';
  const why = mfaRequested
    ? html`<p><strong>${input.clientName}</strong> asks for a second factor. Enter your password and your one-time code.</p>`
    : reauthenticate
      ? html`<p><strong>${input.clientName}</strong> asks you to confirm your identity again.</p>`
      : html`<p>to continue to <strong>${input.clientName}</strong></p>`;
  const codeLabel = mfaRequested ? 'One-time code' : 'One-time code (optional)';
  const body = html`<span class="status warn">Demo identity provider</span>
<h1>${title}</h1>
${why}
${loginNote}
${input.error ? html`<p class="fail" role="alert">${input.error}</p>` : ''}
<form method="post" action="${input.action}" autocomplete="off">
<label for="username">Username</label>
<input type="text" id="username" name="username" value="${input.username}" autocapitalize="none" spellcheck="false" required${input.username ? '' : raw(' autofocus')}>
<label for="password">Password</label>
<input type="password" id="password" name="password" value="${input.password}" required${input.username && !input.password ? raw(' autofocus') : ''}>
<label for="otp">${codeLabel}</label>
<input type="text" id="otp" name="otp" value="${input.otp}" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]*" maxlength="8" placeholder="${mfaRequested ? 'required for accounts with MFA' : 'for accounts with MFA'}"${input.username && input.password ? raw(' autofocus') : ''}>
<div class="actions"><button type="submit">${mfaRequested ? 'Verify' : 'Sign in'}</button><a class="button secondary" href="${input.cancelUrl}">Cancel</a></div>
</form>
<h2 class="meta">Demo accounts</h2>
<table>
${input.users.map((u) => userRow(u, input.pageUrl))}
</table>`;
  return renderPage({ title: `${title} · Portcullis demo`, body, footer: loginFooter });
}

function userRow(user: DemoUser, pageUrl: string): Html {
  const fill = `${pageUrl}?as=${encodeURIComponent(user.id)}`;
  return html`<tr><th><span class="mono">${user.id}</span><br>${user.name}</th><td>
password <code>${user.password}</code><br>
groups ${user.groups.length ? user.groups.join(', ') : 'none'}<br>
${user.otp ? html`MFA: code <code>${user.otp}</code>` : html`no second factor`}${user.email_verified ? '' : html`<br><span class="fail">email not verified</span>`}<br>
<a href="${fill}">Use ${user.id}</a></td></tr>`;
}

export function renderSignedOutPage(clientName: string | undefined): string {
  return renderPage({
    title: 'Signed out · Portcullis demo',
    body: html`<span class="status good">Signed out</span>
<h1>You are signed out</h1>
<p>You have signed out of the demo identity provider${clientName ? html` and of <strong>${clientName}</strong>` : ''}. You can close this tab.</p>
${evaluationNote}`,
    footer,
  });
}

/** Shown only when a logout request names no application; requests from known applications skip it. */
export function renderLogoutConfirmPage(providerForm: string): string {
  return renderPage({
    title: 'Sign out · Portcullis demo',
    body: html`<span class="status warn">Demo identity provider</span>
<h1>Sign out?</h1>
<p>Sign out of the demo identity provider and of every application you signed in to with it.</p>
${raw(providerForm)}
<div class="actions"><button type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button><button type="submit" form="op.logoutForm" class="secondary">Stay signed in</button></div>`,
    footer,
  });
}

export interface IdpErrorPage {
  status: number;
  title: string;
  /** what happened, in a sentence */
  detail?: string;
  /** what to do about it */
  hint: string;
  /** the OAuth error code, shown small for whoever debugs it */
  code?: string;
}

export function renderIdpErrorPage({ status, title, detail, hint, code }: IdpErrorPage): string {
  return renderPage({
    title: `${title} · Portcullis demo`,
    body: html`<span class="status ${status >= 500 ? 'warn' : 'bad'}">${status}</span>
<h1>${title}</h1>
${detail ? html`<p>${sentence(detail)}</p>` : ''}
<p>${hint}</p>
${code ? html`<div class="meta">error <span class="mono">${code}</span></div>` : ''}`,
    footer,
  });
}

function sentence(text: string): string {
  const trimmed = text.trim();
  const capitalized = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capitalized) ? capitalized : `${capitalized}.`;
}

/**
 * Portcullis's page headers, with one change: a submitted login form redirects
 * through the provider back to the application, and browsers apply form-action
 * to those redirects too, so the application's origin must be allowed there.
 */
export function idpPageHeaders(formTargets: readonly string[] = []): Record<string, string> {
  const headers: Record<string, string> = { ...pageSecurityHeaders, 'content-type': 'text/html; charset=utf-8' };
  const origins = [...new Set(formTargets.map(originOf).filter((o): o is string => o !== undefined))];
  if (origins.length) {
    // After the application's redirect URI the chain goes on where the application sends it
    // (Portcullis hands the session to other hosts), and browsers check every hop against
    // form-action. The sign-in form itself only posts to this provider; leave redirects open.
    headers['content-security-policy'] = headers['content-security-policy']!.replace("form-action 'self'; ", '');
  }
  return headers;
}

function originOf(url: string): string | undefined {
  try {
    const { protocol, origin } = new URL(url);
    return protocol === 'http:' || protocol === 'https:' ? origin : undefined;
  } catch {
    return undefined;
  }
}
