// The demo "legacy app": shows who Portcullis says you are and every header it received.
// It stands in for the internal applications Portcullis protects.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { html, renderPage } from '../pages/html.ts';
import { pageSecurityHeaders } from '../pages/style.ts';

export interface DemoApp {
  readonly url: string;
  close(): Promise<void>;
}

export async function startDemoApp(port = 0, host = '127.0.0.1'): Promise<DemoApp> {
  const server = http.createServer((req, res) => {
    if (req.url === '/api/whoami') {
      const body = JSON.stringify({ user: req.headers['x-forwarded-user'] ?? null, email: req.headers['x-forwarded-email'] ?? null, groups: req.headers['x-forwarded-groups'] ?? null, headers: req.headers });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
      return;
    }
    const user = req.headers['x-forwarded-user'];
    const rows = Object.entries(req.headers)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => html`<tr><th class="mono">${k}</th><td class="mono">${String(v)}</td></tr>`);
    const page = renderPage({
      title: 'Demo app',
      wide: true,
      body: html`<span class="status good">Demo app</span>
<h1>${user ? `Hello, ${String(user)}` : 'Hello from the demo app'}</h1>
<p>This page stands in for a legacy application behind Portcullis. It shows exactly the request Portcullis forwarded: the path it asked for and every header it received.</p>
<table><tr><th>Method and path</th><td class="mono">${req.method} ${req.url}</td></tr></table>
<table>${rows}</table>`,
    });
    res.writeHead(200, { ...pageSecurityHeaders, 'content-type': 'text/html; charset=utf-8' });
    res.end(page);
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  const address = server.address() as AddressInfo;
  return {
    url: `http://${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
