// Pages of the sign-in and sign-out flow. Words for people, not protocol jargon.
import { html, renderPage, type Html } from './html.ts';
import type { SessionData } from '../auth/session-data.ts';

export function messagePage(o: { status: 'good' | 'bad' | 'warn'; label: string; title: string; body: Html; actions?: Html; requestId?: string }): string {
  return renderPage({
    title: o.title,
    body: html`<span class="status ${o.status}">${o.label}</span>
<h1>${o.title}</h1>
${o.body}
${o.actions ? html`<div class="actions">${o.actions}</div>` : ''}
${o.requestId ? html`<div class="meta">Request id <span class="mono">${o.requestId}</span></div>` : ''}`,
  });
}

export function logoutConfirmPage(o: { email?: string; csrf: string; action: string }): string {
  return messagePage({
    status: 'warn',
    label: 'Sign out',
    title: 'Sign out of Portcullis?',
    body: html`<p>${o.email ? html`You are signed in as <strong>${o.email}</strong>. ` : ''}Signing out ends your session for every application behind Portcullis.</p>`,
    actions: html`<form method="post" action="${o.action}"><input type="hidden" name="csrf" value="${o.csrf}"><button type="submit">Sign out</button></form>`,
  });
}

export function signedOutPage(signInUrl: string): string {
  return messagePage({
    status: 'good',
    label: 'Signed out',
    title: 'You are signed out',
    body: html`<p>Your session has ended. To keep using your applications, sign in again.</p>`,
    actions: html`<a class="button" href="${signInUrl}">Sign in again</a>`,
  });
}

export function userinfoPage(s: SessionData, o: { logoutUrl: string; expiresAt?: number }): string {
  const rows: [string, unknown][] = [
    ['User', s.sub],
    ['Email', s.email ? `${s.email}${s.emailVerified ? ' (verified)' : ' (not verified)'}` : '—'],
    ['Name', s.name ?? '—'],
    ['Groups', s.groups.length ? s.groups.join(', ') : '—'],
    ['Authentication', [s.acr, s.amr?.length ? `methods: ${s.amr.join(', ')}` : undefined].filter(Boolean).join(' · ') || '—'],
    ['Signed in', s.authTime ? new Date(s.authTime * 1000).toISOString() : new Date(s.createdAt).toISOString()],
  ];
  return renderPage({
    title: 'Your session',
    body: html`<span class="status good">Signed in</span>
<h1>${s.name ?? s.email ?? s.sub}</h1>
<p>This is what Portcullis knows about you and passes to the applications you open.</p>
<table>${rows.map(([k, v]) => html`<tr><th>${k}</th><td>${String(v)}</td></tr>`)}</table>
<div class="actions"><a class="button secondary" href="${o.logoutUrl}">Sign out</a></div>`,
  });
}
