// The one place where a refusal becomes a response: an HTML page for people,
// JSON for API clients, always with the request id and the security headers.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorCatalogue, type ErrorCode } from '../errors.ts';
import { html, renderPage } from './html.ts';
import { pageSecurityHeaders } from './style.ts';

/** Browsers ask for text/html; everything else (curl, fetch, API clients) gets JSON. */
export function wantsHtml(req: IncomingMessage): boolean {
  const accept = req.headers.accept;
  if (!accept || !accept.includes('text/html')) return false;
  const xrw = req.headers['x-requested-with'];
  return xrw === undefined;
}

export interface ErrorDetails {
  /** extra fields for the JSON body, such as a login URL */
  readonly extra?: Readonly<Record<string, unknown>>;
  /** extra response headers, such as Retry-After or Location */
  readonly headers?: Readonly<Record<string, string>>;
}

export function sendError(req: IncomingMessage, res: ServerResponse, code: ErrorCode, requestId: string, details: ErrorDetails = {}): void {
  const entry = errorCatalogue[code];
  if (res.headersSent) {
    res.destroy();
    return;
  }
  let body: string;
  let type: string;
  if (wantsHtml(req)) {
    type = 'text/html; charset=utf-8';
    body = renderPage({
      title: entry.title,
      body: html`<span class="status ${entry.status >= 500 ? 'warn' : 'bad'}">${entry.status}</span>
<h1>${entry.title}</h1>
<p>${entry.hint}</p>
<div class="meta">Request id <span class="mono">${requestId}</span> · code <span class="mono">${code}</span></div>`,
    });
  } else {
    type = 'application/json';
    body = JSON.stringify({ error: code, status: entry.status, message: entry.title, hint: entry.hint, request_id: requestId, ...details.extra });
  }
  res.writeHead(entry.status, {
    ...pageSecurityHeaders,
    ...details.headers,
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'x-request-id': requestId,
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}
