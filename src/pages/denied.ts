// The 403 page: what failed, in plain words, what the person can do about it,
// and the request id to quote. The same reasons go to the JSON body and the audit log.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { html, renderPage } from './html.ts';
import { pageSecurityHeaders } from './style.ts';
import { wantsHtml } from './respond.ts';
import type { Reason } from '../policy/reasons.ts';
import type { Decision } from '../policy/evaluate.ts';

/** What a person can do, by the family of the failing criterion. */
export function adviceFor(reasons: readonly Reason[]): string[] {
  const codes = reasons.filter((r) => r.outcome !== 'pass').map((r) => String(r.code));
  const advice = new Set<string>();
  for (const code of codes) {
    if (code.startsWith('device-') || code.startsWith('posture-')) advice.add('Use a company-managed device with the required settings (disk encryption, firewall, screen lock, up-to-date system), or ask IT to check that your device reports its status.');
    else if (code.startsWith('mfa') || code.startsWith('acr') || code === 'reauthentication-required' || code === 'auth-time-unknown') advice.add('Sign in again using multi-factor authentication.');
    else if (code.startsWith('network') || code === 'client-ip-unknown') advice.add('Connect from the office network or the company VPN.');
    else if (code.startsWith('country')) advice.add('This app cannot be used from where you are connecting.');
    else if (code.startsWith('time')) advice.add('This app is only available at certain times; try again later.');
    else if (code.startsWith('groups') || code.startsWith('user-') || code.startsWith('email') || code.startsWith('claim')) advice.add('Ask the owner of this app or your administrator for access.');
    else if (code.startsWith('method') || code.startsWith('path')) advice.add('This action or page is not available to you in this app.');
  }
  if (advice.size === 0) advice.add('If you think you should have access, contact your administrator and quote the request id.');
  return [...advice];
}

export function deniedPage(o: { reasons: readonly Reason[]; requestId: string; user?: string; routeName: string; logoutUrl?: string }): string {
  const failing = o.reasons.filter((r) => r.outcome !== 'pass');
  const shown = failing.length ? failing : o.reasons;
  return renderPage({
    title: 'Access denied',
    body: html`<span class="status bad">403 · Access denied</span>
<h1>You can't open this app right now</h1>
<p>Portcullis checked your request against this app's access policy${o.user ? html` (signed in as <strong>${o.user}</strong>)` : ''}. This is what did not pass:</p>
<ul class="reasons">${shown.map((r) => html`<li><span class="fail">✗</span> ${r.message}</li>`)}</ul>
<p><strong>What you can do</strong></p>
<ul class="reasons">${adviceFor(o.reasons).map((a) => html`<li>${a}</li>`)}</ul>
${o.logoutUrl ? html`<div class="actions"><a class="button secondary" href="${o.logoutUrl}">Sign in as someone else</a></div>` : ''}
<div class="meta">Request id <span class="mono">${o.requestId}</span> · app <span class="mono">${o.routeName}</span> · ${failing.map((r) => r.code).join(', ')}</div>`,
  });
}

/** 403: the page for people, the same reasons as JSON for API clients. */
export function sendDenied(req: IncomingMessage, res: ServerResponse, o: { decision: Decision; requestId: string; routeName: string; user?: string }): void {
  const failing = o.decision.reasons.filter((r) => r.outcome !== 'pass');
  let body: string;
  let type: string;
  if (wantsHtml(req)) {
    type = 'text/html; charset=utf-8';
    body = deniedPage({ reasons: o.decision.reasons, requestId: o.requestId, user: o.user, routeName: o.routeName, logoutUrl: '/.portcullis/logout' });
  } else {
    type = 'application/json';
    body = JSON.stringify({
      error: 'access_denied',
      status: 403,
      message: 'Access denied',
      policy: o.decision.policy,
      reasons: (failing.length ? failing : o.decision.reasons).map((r) => ({ code: r.code, criterion: r.criterion, outcome: r.outcome, message: r.message })),
      advice: adviceFor(o.decision.reasons),
      request_id: o.requestId,
    });
  }
  res.writeHead(403, { ...pageSecurityHeaders, 'content-type': type, 'content-length': Buffer.byteLength(body), 'x-request-id': o.requestId });
  res.end(req.method === 'HEAD' ? undefined : body);
}
