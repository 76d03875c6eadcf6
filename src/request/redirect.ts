// The optional plain-HTTP listener: every request is redirected to HTTPS on the
// same host, but only for hosts Portcullis serves, so it is no open redirect.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CompiledConfig } from '../config/compile.ts';
import { parseTarget } from './target.ts';
import { matchRoute } from './route-match.ts';

export function createRedirectHandler(config: () => CompiledConfig, httpsPort: number) {
  return function handleRedirect(req: IncomingMessage, res: ServerResponse): void {
    const c = config();
    const target = parseTarget(req.url ?? '/', req.headers.host);
    const known = target.ok && (target.host === c.publicUrl.hostname || matchRoute(c.routeTable, target.host, target.path) !== undefined);
    if (!target.ok || !known) {
      res.writeHead(target.ok ? 404 : 400, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
      res.end(target.ok ? 'No application here.\n' : 'Bad request.\n');
      return;
    }
    const port = httpsPort === 443 ? '' : `:${httpsPort}`;
    res.writeHead(308, { location: `https://${target.host}${port}${target.path}${target.query}`, 'content-length': 0, 'cache-control': 'no-store' });
    res.end();
  };
}
